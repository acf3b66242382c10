"""Runs a command under a seccomp profile in the runtime's JSON format (the subset the
Localhost profile in tuning/kubernetes/seccomp/ uses: defaultAction SCMP_ACT_ERRNO with
defaultErrnoRet, and SCMP_ACT_ALLOW rules by name), through libseccomp, as a container
runtime would load it just before exec.

Usage: seccomp_exec.py PROFILE.json [--drop NAME,...] -- COMMAND ARGS...
--drop removes names from the allow list (a negative control).
"""

import ctypes
import ctypes.util
import json
import os
import sys


def main(argv):
    if "--" not in argv or len(argv) < 4:
        sys.exit(f"usage: {__doc__}")
    cmd = argv[argv.index("--") + 1:]
    opts = argv[1:argv.index("--")]
    profile = json.load(open(opts[0]))
    drop = set(opts[opts.index("--drop") + 1].split(",")) if "--drop" in opts else set()

    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]

    if profile["defaultAction"] != "SCMP_ACT_ERRNO":
        sys.exit(f"unsupported defaultAction {profile['defaultAction']}")
    errno_ret = profile.get("defaultErrnoRet", 1)
    scmp_act_errno = 0x00050000 | (errno_ret & 0xFFFF)
    scmp_act_allow = 0x7FFF0000
    ctx = lib.seccomp_init(scmp_act_errno)
    if not ctx:
        sys.exit("seccomp_init failed")
    allowed = unknown = 0
    for rule in profile["syscalls"]:
        if rule["action"] != "SCMP_ACT_ALLOW" or rule.get("args"):
            sys.exit(f"unsupported rule {rule}")
        for name in rule["names"]:
            if name in drop:
                continue
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:  # not a system call on this architecture (e.g. open on aarch64)
                unknown += 1
                continue
            rc = lib.seccomp_rule_add(ctx, scmp_act_allow, nr, 0)
            if rc != 0:
                sys.exit(f"seccomp_rule_add({name}) failed: {rc}")
            allowed += 1
    rc = lib.seccomp_load(ctx)
    if rc != 0:
        sys.exit(f"seccomp_load failed: {rc}")
    print(f"seccomp_exec: {allowed} system calls allowed ({unknown} not on this architecture), "
          f"dropped {sorted(drop)}", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv)
