"""The simulated world: repositories as git sees them (commits, branch heads) and their pull requests."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from dataclasses import dataclass, field

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass
class RepoSpec:
    """One repository of the simulated world."""

    full_name: str
    default_branch: str = "main"
    archived: bool = False
    fork: bool = False
    private: bool = False
    topics: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)  # fnmatch patterns of protected branch names
    can_push: bool = True  # the token's push permission on this repository
    files: dict[str, str] = field(default_factory=dict)  # initial text files on the default branch


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (never its headers, so never a token)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    repo: str | None  # "owner/name" when the path is under /repos/{owner}/{name}
    at: float  # simulated epoch seconds
    # The core window's reset (epoch seconds) in the answer's x-ratelimit-reset: when a refused client may send again.
    reset: int = field(default=0, compare=False)


@dataclass
class Pull:
    """A pull request; its head and base are branch names of the same repository."""

    number: int
    id: int
    title: str
    body: str | None
    draft: bool
    head: str
    base: str
    head_sha: str  # at creation; rendering uses the branch's current head while it exists
    base_sha: str
    created_at: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    merged_at: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class Repo:
    """A repository: every commit's whole tree, its parents, the branch heads and the pull requests."""

    spec: RepoSpec
    id: int
    heads: dict[str, str]  # branch -> commit sha
    commits: dict[str, dict[str, bytes]]  # commit sha -> the whole tree at that commit (path -> data)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # commit sha -> its parents' shas
    pulls: list[Pull] = field(default_factory=list)
    pulls_created: int = 0

    @classmethod
    def create(cls, spec: RepoSpec) -> Repo:
        """The repository with its files as the first commit on its default branch."""
        check_spec(spec)
        tree = {path: text.encode() for path, text in spec.files.items()}
        change = "\0".join(f"{path}\0{blob_sha(data)}" for path, data in sorted(tree.items()))
        root = sha1(f"{spec.full_name}\0initial\0{change}".encode())
        return cls(spec=spec, id=stable_id(spec.full_name), heads={spec.default_branch: root}, commits={root: tree})

    @property
    def owner(self) -> str:
        return self.spec.full_name.split("/", 1)[0]

    def protected(self, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.spec.protected)

    def commit(self, parents: tuple[str, ...], tree: dict[str, bytes], salt: str) -> str:
        """Record a commit with this tree on top of `parents`; its sha."""
        sha = sha1("\0".join((*parents, salt, *(f"{p}\0{blob_sha(d)}" for p, d in sorted(tree.items())))).encode())
        self.commits[sha], self.parents[sha] = tree, parents
        return sha

    def history(self, sha: str) -> set[str]:
        """The commit and every commit it descends from (what `git rev-list` walks)."""
        seen: set[str] = set()
        todo = [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.parents.get(current, ()))
        return seen

    def merge(self, pull: Pull, method: str, now: float) -> str:
        """Merge (merge commit), squash (one new commit with the head's changes) or rebase, as a person does on
        GitHub; the head branch stays, as GitHub keeps it unless the repository deletes head branches."""
        if method not in ("merge", "squash", "rebase"):
            raise ValueError(f"merge method {method!r}: merge, squash or rebase")
        if pull.state != "open" or pull.head not in self.heads:
            raise ValueError(f"pull request #{pull.number} is not mergeable")
        head_sha, base_sha = self.heads[pull.head], self.heads[pull.base]
        # The head's changes since the pull request's base, applied to the base as it is now.
        before, after = self.commits[pull.base_sha], self.commits[head_sha]
        tree = dict(self.commits[base_sha])
        for path in before.keys() - after.keys():
            tree.pop(path, None)
        tree.update({path: data for path, data in after.items() if before.get(path) != data})
        parents = (base_sha, head_sha) if method == "merge" else (base_sha,)
        merged = self.commit(parents, tree, f"{method}\0#{pull.number}")
        self.heads[pull.base] = merged
        pull.state, pull.merged_at, pull.merge_commit_sha = "closed", iso(now), merged
        return merged


def sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def blob_sha(data: bytes) -> str:
    """Git's blob id, as `git hash-object` computes it."""
    return sha1(b"blob %d\0" % len(data) + data)


def stable_id(*parts: str) -> int:
    """A positive id that depends only on its parts, so ids survive restarts and reordering."""
    return int(sha1("\0".join(parts).encode())[:8], 16) % 900_000_000 + 100_000_000


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def check_spec(spec: RepoSpec) -> None:
    """ValueError naming the field when the spec cannot be a GitHub repository."""
    owner, _, name = spec.full_name.partition("/")
    if not (_NAME_RE.fullmatch(owner) and _NAME_RE.fullmatch(name)):
        raise ValueError(f"full_name: {spec.full_name!r} is not 'owner/name'")
    if not spec.default_branch:
        raise ValueError("default_branch: must not be empty")
