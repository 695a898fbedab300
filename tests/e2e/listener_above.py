import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
if libc.prctl(38, 1, 0, 0, 0) != 0:   # PR_SET_NO_NEW_PRIVS
    sys.exit("prctl failed")
# Trap acct(2), which nothing here calls, to a listener nobody serves.
code = b"".join(struct.pack("HBBI", *i) for i in (
    (0x20, 0, 0, 0),            # ld [nr]
    (0x15, 0, 1, 163),          # jeq __NR_acct
    (0x06, 0, 0, 0x7fc00000),   # ret USER_NOTIF
    (0x06, 0, 0, 0x7fff0000)))  # ret ALLOW
buf = ctypes.create_string_buffer(code, len(code))
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Prog(4, ctypes.addressof(buf))
fd = libc.syscall(317, 1, 8, ctypes.byref(prog))  # seccomp(SET_MODE_FILTER, NEW_LISTENER)
if fd < 0:
    sys.exit("seccomp failed: %d" % ctypes.get_errno())
os.set_inheritable(fd, True)
os.execv(sys.argv[1], sys.argv[1:])
