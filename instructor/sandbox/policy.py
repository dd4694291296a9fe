"""Which sandbox tier a grading run uses (kept for its callers: see sandbox/box.py).

    tier = choose_sandbox(args.sandbox)    # "namespaces", "uid" or "none"; SandboxError if none
"""
from instructor.sandbox.box import BARE_NOTE, SandboxError, choose_tier

choose_sandbox = choose_tier
__all__ = ["BARE_NOTE", "SandboxError", "choose_sandbox"]
