"""The house plan's import rule: the math rooms never import the RL stack."""

import subprocess
import sys

MATH_MODULES = ("gradsub.losses", "gradsub.hessian", "gradsub.lanczos", "gradsub.metrics")
RL_STACK = ("stable_baselines3", "gymnasium", "gymnasium_robotics", "shimmy", "dm_control", "mujoco")


def test_math_modules_import_no_rl_library():
    # A fresh interpreter: in pytest's own process other tests have imported everything already.
    code = (f"import sys; import {', '.join(MATH_MODULES)}; "
            f"print(','.join(m for m in {RL_STACK!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "", f"math modules pulled in: {loaded.strip()}"
