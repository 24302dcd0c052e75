"""The embedded local engine: the synthesized stack run on moto in-process (see local_engine.py).

One module per job: the moto patches and the version they were written for (moto_patches.py, limits.py),
the simulated clock (clock.py), the readers-writer gate (gate.py), stdout routing (output.py), the
functions' environments (environment.py), provisioning from the template (provision.py), the in-process
Lambda runtime (runtime.py), starting and waiting for runs (running.py), and reading back what a run left
(records.py).
"""

from hubspoke.engine.adaptations import ADAPTATIONS
from hubspoke.engine.local_engine import LocalEngine
from hubspoke.engine.moto_patches import MOTO_VERSION, MotoVersionError
from hubspoke.engine.provision import ACCOUNT, BUCKET, REGION, ROLE_ARN
from hubspoke.engine.records import Progress, RunResult
from hubspoke.engine.running import ProgressCallback
from hubspoke.engine.runtime import FaultHook, InProcessRuntime, LocalFunction, LocalRunStopped

__all__ = [
    "ACCOUNT",
    "ADAPTATIONS",
    "BUCKET",
    "MOTO_VERSION",
    "REGION",
    "ROLE_ARN",
    "FaultHook",
    "InProcessRuntime",
    "LocalEngine",
    "LocalFunction",
    "LocalRunStopped",
    "MotoVersionError",
    "Progress",
    "ProgressCallback",
    "RunResult",
]
