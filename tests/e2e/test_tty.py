# Interactive programs on a terminal: a shell with job control, a REPL, and TIOCSTI/TIOCLINUX refused.
import time

from conftest import PY

BASH = ["bash", "--norc", "--noprofile", "-i"]
PROMPT = r"PS1> "


def start_bash(pty_run):
    p = pty_run(BASH, env={"PS1": "PS1> "})
    p.expect(PROMPT)
    return p


def test_interactive_shell(pty_run):
    p = start_bash(pty_run)
    p.send("echo $((6*7))\n")
    p.expect(r"[\r\n]42\r?\n")
    p.expect(PROMPT)
    p.send("exit\n")
    assert p.wait() == 0


def test_shell_exit_status_through_tty(pty_run):
    p = start_bash(pty_run)
    p.send("exit 5\n")
    assert p.wait() == 5


def test_stdin_is_a_tty_inside(pty_run):
    p = start_bash(pty_run)
    p.send("echo isatty=$([ -t 0 ] && [ -t 2 ] && echo yes)\n")
    p.expect(r"isatty=yes")
    p.send("exit\n")
    p.wait()


def test_job_control(pty_run):
    p = start_bash(pty_run)
    p.send("sleep 100 &\n")
    p.expect(PROMPT)
    p.send("jobs\n")
    p.expect(r"Running\s+sleep 100")
    p.expect(PROMPT)
    p.send("kill %1; wait; exit\n")
    assert p.wait() == 0


def test_ctrl_z_and_fg(pty_run):
    p = start_bash(pty_run)
    p.send("sleep 100\n")
    time.sleep(0.3)
    p.send("\x1a")
    p.expect(r"Stopped\s+sleep 100")
    p.expect(PROMPT)
    # fg resumes the job in the foreground; ^C from the terminal ends it.
    p.send("fg\n")
    p.expect(r"sleep 100")
    time.sleep(0.3)
    p.send("\x03")
    p.expect(PROMPT)
    p.send("jobs; exit\n")
    assert p.wait() == 0


def test_ctrl_c_interrupts_foreground_job(pty_run):
    p = start_bash(pty_run)
    p.send("sleep 100\n")
    time.sleep(0.3)
    p.send("\x03")
    p.expect(PROMPT)
    p.send("echo status=$?\n")
    p.expect(r"status=130")
    p.send("exit\n")
    assert p.wait() == 0


def test_job_control_without_startup_complaints(pty_run):
    p = start_bash(pty_run)
    p.send("exit\n")
    p.wait()
    for bad in (b"no job control", b"cannot set terminal process group", b"Inappropriate ioctl"):
        assert bad not in p.all, p.all


def test_python_repl(pty_run):
    p = pty_run([PY, "-q", "-i"], env={"PYTHONSTARTUP": ""})
    p.expect(r">>> ")
    p.send("print(6*7)\n")
    p.expect(r"[\r\n]42\r?\n")
    p.send("import sys; sys.exit(0)\n")
    assert p.wait() == 0


def test_tiocsti_refused_on_tty(pty_run):
    code = ("import fcntl, termios, errno, sys\n"
            "assert sys.stdin.isatty()\n"
            "try:\n"
            "    fcntl.ioctl(0, termios.TIOCSTI, b'x'); print('RESULT ok')\n"
            "except OSError as e: print('RESULT', errno.errorcode[e.errno])\n")
    p = pty_run([PY, "-c", code])
    m = p.expect(r"RESULT (\w+)")
    assert m.group(1) == b"EPERM", p.buf
    assert p.wait() == 0


def test_tioclinux_refused_on_tty(pty_run):
    code = ("import fcntl, errno\n"
            "try:\n"
            "    fcntl.ioctl(0, 0x541C, b'\\x06\\x00'); print('RESULT ok')\n"
            "except OSError as e: print('RESULT', errno.errorcode[e.errno])\n")
    p = pty_run([PY, "-c", code])
    m = p.expect(r"RESULT (\w+)")
    assert m.group(1) == b"EPERM", p.buf
    assert p.wait() == 0


def test_terminal_size_visible(pty_run):
    p = pty_run(["stty", "size"])
    p.expect(r"24 80")
    assert p.wait() == 0


COUNT_SIGINT = r'''
import signal, time
n = 0
def h(s, f):
    global n
    n += 1
signal.signal(signal.SIGINT, h)
print("ready", flush=True)
end = time.time() + 30
while n == 0 and time.time() < end:
    time.sleep(0.01)
time.sleep(0.5)
print("SIGINTS", n, flush=True)
'''


def test_ctrl_c_delivered_once(pty_run):
    # ^C on the terminal must reach the command once, not once from the
    # terminal and again forwarded by srt.
    p = pty_run([PY, "-c", COUNT_SIGINT])
    p.expect("ready")
    time.sleep(0.1)
    p.send("\x03")
    m = p.expect(r"SIGINTS (\d+)")
    assert m.group(1) == b"1", p.all
    assert p.wait() == 0


def test_ctrl_c_ends_foreground_command(pty_run):
    p = pty_run(["sh", "-c", "echo ready; exec sleep 100"])
    p.expect("ready")
    time.sleep(0.1)
    p.send("\x03")
    assert p.wait() == 130
