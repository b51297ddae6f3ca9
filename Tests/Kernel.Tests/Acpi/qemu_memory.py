"""Reads a QEMU guest's physical memory through the human monitor (pmemsave), for the firmware-table dump
scripts beside it: start(qemu args) boots the machine, waits WAIT seconds (environment, default 3) and
stops it; mem(address, length) returns the bytes."""
import atexit, os, socket, subprocess, tempfile, time

_dir = tempfile.mkdtemp()
_sock = None
_proc = None


def start(qargs):
    global _sock, _proc
    mon = os.path.join(_dir, "mon.sock")
    _proc = subprocess.Popen(["qemu-system-x86_64"] + qargs + ["-monitor", "unix:%s,server=on,wait=off" % mon,
                             "-display", "none", "-serial", "null"], cwd=_dir)
    atexit.register(_proc.kill)
    time.sleep(float(os.environ.get("WAIT", "3")))
    _sock = socket.socket(socket.AF_UNIX)
    _sock.connect(mon)
    _sock.settimeout(2)
    time.sleep(0.5)
    _drain()
    command("stop")


def _drain():
    try:
        _sock.recv(65536)
    except Exception:
        pass


def command(text):
    _sock.sendall((text + "\n").encode())
    time.sleep(0.3)
    _drain()


def mem(address, length):
    f = os.path.join(_dir, "m.bin")
    if os.path.exists(f):
        os.remove(f)
    command("pmemsave %d %d m.bin" % (address, length))
    for _ in range(200):
        if os.path.exists(f) and os.path.getsize(f) == length:
            break
        time.sleep(0.1)
    return open(f, "rb").read()


def stop():
    _proc.kill()
