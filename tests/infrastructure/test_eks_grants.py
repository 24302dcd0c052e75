"""The spoke's grant for the k8s operations on EKS clusters of the deployment's own account, as synthesized.

Written from the Service Authorization Reference for Amazon EKS: DescribeCluster on the cluster resource type
(arn:${Partition}:eks:${Region}:${Account}:cluster/${ClusterName}). The token needs no grant: it is a presigned
STS GetCallerIdentity URL, and GetCallerIdentity needs no permission.
"""

from __future__ import annotations

from tests.iam import ACCOUNT, Call, allows, function_statements

EXPECTED = {"Action": "eks:DescribeCluster", "Effect": "Allow", "Resource": f"arn:aws:eks:*:{ACCOUNT}:cluster/*"}


def test_the_spoke_may_describe_this_accounts_eks_clusters_and_do_nothing_else_in_eks(template):
    statements = function_statements(template, "spoke.")
    eks = [s for s in statements if any(str(a).startswith("eks:") for a in _listed(s["Action"]))]
    assert eks == [EXPECTED]


def test_describe_cluster_is_allowed_here_and_not_in_another_account(template):
    statements = function_statements(template, "spoke.")
    assert allows(statements, Call("eks:DescribeCluster", (f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod",)))
    assert not allows(statements, Call("eks:DescribeCluster", ("arn:aws:eks:eu-west-1:999999999999:cluster/prod",)))
    assert not allows(statements, Call("eks:UpdateClusterConfig", (f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod",)))


def _listed(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]
