"""Test-wide settings: headless MuJoCo and one thread per process (the CI machine has two cores).

Set at import, before the test modules import numpy/torch; subprocesses (papermill kernels, Dask
workers, the book build) inherit the environment variables.
"""

import os

for _name, _value in (("MUJOCO_GL", "disable"), ("OPENBLAS_NUM_THREADS", "1"), ("OMP_NUM_THREADS", "1")):
    os.environ.setdefault(_name, _value)

import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(1)
