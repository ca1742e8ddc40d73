#!/usr/bin/env python3
"""ALICE-style crash-state replay (TESTING.md section 4; Pillai et al.,
OSDI 2014) for crashsafe's single-threaded writers.

Each scenario runs one tool under strace, keeps the system calls that
change the scenario's directory (creates, writes, truncates, renames,
links, unlinks) and the fsyncs that make them durable, and rebuilds the
directory as it could be found after a power cut at every point of that
trace, under three persistence models and the last two together:

  all    everything the trace did so far reached the disk;
  data   file data not followed by an fsync/fdatasync of that file is lost;
  names  creates, renames, links and unlinks not followed by an fsync of
         their directory are lost;
  both   data and names.

The scenario's invariant is checked on every state, and on the state
after the tool's last call also "it said ok, so the new data is there".

Usage: replay.py [-k TRACE_PREFIX] BIN_DIR [SCENARIO|TOOL...]
Exit 0 if every state passes, 1 if any violates, 2 if a scenario could
not be recorded or modelled.
"""

import os
import re
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqlwal_check  # noqa: E402

TRACED = ("open,openat,openat2,creat,close,close_range,dup,dup2,dup3,fcntl,"
          "read,readv,write,writev,pwrite64,pwritev,pwritev2,lseek,"
          "copy_file_range,sendfile,splice,ftruncate,truncate,fallocate,"
          "fsync,fdatasync,sync,syncfs,rename,renameat,renameat2,link,"
          "linkat,unlink,unlinkat,mkdir,mkdirat,rmdir,symlink,symlinkat,"
          "mknod,mknodat,chdir,fchdir,mmap")

HEX = re.compile(r'"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?')
LINE = re.compile(r'^(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)'
                  r'(?:<((?:\\x[0-9a-f]{2})*)>)?')
FD = re.compile(r'^(-?\d+|AT_FDCWD)(?:<((?:\\x[0-9a-f]{2})*)>)?'
                r'(?:\(deleted\))?$')


def unhex(s):
    return bytes.fromhex(s.replace("\\x", ""))


def split_args(s):
    """Top-level comma split; -xx leaves no quote or comma inside strings."""
    out, depth, cur, quoted = [], 0, "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "{[(<":
            depth += 1
        elif not quoted and ch in "}])>":
            depth -= 1
        elif not quoted and ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


class Unsupported(Exception):
    """A call the model cannot replay faithfully: fail, never guess."""


class RunError(Exception):
    """The tool did not run as the scenario expects."""


def fdarg(arg):
    """'3<\\x2f..>', '3<..>(deleted)', 'AT_FDCWD<..>' -> (fd, path);
    fd is None for AT_FDCWD. Anything else is not understood."""
    m = FD.match(arg)
    if not m:
        raise Unsupported("cannot read the descriptor %r" % arg[:60])
    fd = None if m.group(1) == "AT_FDCWD" else int(m.group(1))
    return fd, unhex(m.group(2)).decode() if m.group(2) is not None else None


def string(arg):
    m = HEX.search(arg)
    if not m or m.group(2):
        raise Unsupported("cannot read the string %r" % arg[:60])
    return unhex(m.group(1))


def strings(arg):
    """Every string of an iovec array, joined; truncation is an error."""
    out = b""
    for m in HEX.finditer(arg):
        if m.group(2):
            raise Unsupported("a write longer than strace's -s")
        out += unhex(m.group(1))
    return out


class Trace:
    """The calls of one run that touch root, as persistence ops:
    ('data', inode, fn)      fn(bytearray) applies a write or truncate
    ('name', dirs, fn)       fn(names) applies a create/rename/link/unlink
    ('fsync', inode) / ('dirsync', dir) / ('sync',)
    Whatever touches root and is not modelled raises Unsupported."""

    def __init__(self, root, initial):
        self.root = root
        self.ops = []
        self.names = {}                   # relpath -> inode (full model)
        self.sizes = {}                   # inode -> size (full model)
        self.dirs = {""}
        self.fds = {}                     # fd -> open file description
        self.next_inode = 0
        self.initial = {}                 # inode -> content
        self.initial_names = {}           # relpath -> inode
        for rel, data in initial.items():
            ino = self.new_inode()
            self.initial[ino] = data
            self.initial_names[rel] = self.names[rel] = ino
            self.sizes[ino] = len(data)

    def new_inode(self):
        self.next_inode += 1
        self.sizes[self.next_inode] = 0
        return self.next_inode

    def rel(self, path):
        """root-relative name of an absolute path, or None if outside."""
        path = os.path.normpath(path)
        if path == self.root:
            return ""
        if path.startswith(self.root + "/"):
            return path[len(self.root) + 1:]
        return None

    def path(self, dirarg, namearg):
        """The absolute path a (dirfd, name) pair names; dirarg None means
        the working directory, which is root (chdir is refused)."""
        name = string(namearg).decode()
        if name.startswith("/"):
            return name
        d = self.root
        if dirarg is not None:
            fd, d = fdarg(dirarg)
            if d is None:
                raise Unsupported("a directory descriptor without a path")
        return os.path.join(d, name)

    def parent(self, rel):
        return os.path.dirname(rel)

    def tracked(self, fd):
        o = self.fds.get(fd)
        return o if o is not None and "ino" in o else None

    def name_op(self, rels, fn):
        fn(self.names)
        self.ops.append(("name", {self.parent(r) for r in rels}, fn))

    def data_op(self, ino, fn, newsize):
        self.sizes[ino] = newsize
        self.ops.append(("data", ino, fn))

    def write(self, ofd, data, off=None):
        """off None: at the file offset, which moves; else positional."""
        ino = ofd["ino"]
        positional = off is not None
        if ofd["append"]:                 # Linux: pwrite appends too
            off = self.sizes[ino]
        elif not positional:
            off = ofd["off"]
        if not positional:
            ofd["off"] = off + len(data)

        def fn(buf, off=off, data=data):
            if len(buf) < off:
                buf.extend(bytes(off - len(buf)))
            buf[off:off + len(data)] = data
        self.data_op(ino, fn, max(self.sizes[ino], off + len(data)))

    def truncate(self, ino, size):
        def fn(buf, size=size):
            del buf[size:]
            buf.extend(bytes(size - len(buf)))
        self.data_op(ino, fn, size)

    def call(self, name, args, ret, retpath):
        handler = getattr(self, "sys_" + name, None)
        if handler is None:
            raise Unsupported("no model for " + name)
        handler(args, ret, retpath)

    # -- descriptors
    def sys_openat(self, args, ret, retpath, flags=None, dirarg=None):
        if ret < 0:
            return
        if flags is None:
            flags, dirarg = args[2], args[0]
        if retpath is None:
            raise Unsupported("open without the path of its result")
        rel = self.rel(retpath)
        if "O_TMPFILE" in flags:
            if self.rel(self.path(dirarg, args[1] if dirarg else args[0]))\
                    is not None:
                self.fds[ret] = {"ino": self.new_inode(), "off": 0,
                                 "append": False, "shm": False}
            else:
                self.fds[ret] = {"ext": None, "off": 0}
            return
        if rel is None:
            self.fds[ret] = {"ext": retpath, "off": 0}
            return
        if rel in self.dirs or "O_DIRECTORY" in flags:
            self.fds[ret] = {"dir": rel}
            return
        if rel not in self.names:
            ino = self.new_inode()
            self.name_op([rel], lambda n, r=rel, i=ino: n.__setitem__(r, i))
        else:
            ino = self.names[rel]
            if "O_TRUNC" in flags:
                self.truncate(ino, 0)
        self.fds[ret] = {"ino": ino, "off": 0, "append": "O_APPEND" in flags,
                         "shm": rel.endswith("-shm")}

    def sys_open(self, args, ret, retpath):
        self.sys_openat(args, ret, retpath, args[1], None)

    def sys_creat(self, args, ret, retpath):
        self.sys_openat(args, ret, retpath, "O_CREAT|O_WRONLY|O_TRUNC", None)

    def sys_openat2(self, args, ret, retpath):
        if ret >= 0 and retpath and self.rel(retpath) is not None:
            raise Unsupported("openat2 in the directory")
        if ret >= 0:
            self.fds[ret] = {"ext": retpath, "off": 0}

    def sys_close(self, args, ret, retpath):
        self.fds.pop(fdarg(args[0])[0], None)

    def sys_close_range(self, args, ret, retpath):
        lo, hi = int(args[0]), int(args[1].replace("~0U", str(2**32 - 1)))
        if ret == 0 and "CLOSE_RANGE_CLOEXEC" not in args[2]:
            for fd in [fd for fd in self.fds if lo <= fd <= hi]:
                del self.fds[fd]

    def sys_dup(self, args, ret, retpath):
        if ret < 0:
            return
        fd = fdarg(args[0])[0]
        if fd in self.fds:
            self.fds[ret] = self.fds[fd]
        else:
            self.fds.pop(ret, None)
    sys_dup2 = sys_dup3 = sys_dup

    def sys_fcntl(self, args, ret, retpath):
        if ret < 0:
            return
        if args[1].startswith("F_DUPFD"):
            self.sys_dup(args, ret, retpath)
        elif args[1] == "F_SETFL" and self.tracked(fdarg(args[0])[0]):
            self.tracked(fdarg(args[0])[0])["append"] = "O_APPEND" in args[2]

    # -- data
    def sys_write(self, args, ret, retpath, positional=False):
        o = self.tracked(fdarg(args[0])[0])
        if ret <= 0 or o is None or o["shm"]:
            return                  # the WAL index is rebuilt from the WAL
        data = strings(args[1])
        if len(data) < ret:
            raise Unsupported("a write longer than strace's -s")
        off = int(args[3]) if positional else None
        if off == -1:               # pwritev2: the file offset
            off = None
        self.write(o, data[:ret], off)
    sys_writev = sys_write

    def sys_pwrite64(self, args, ret, retpath):
        self.sys_write(args, ret, retpath, positional=True)
    sys_pwritev = sys_pwritev2 = sys_pwrite64

    def sys_read(self, args, ret, retpath):
        fd = fdarg(args[0])[0]
        if ret > 0 and fd in self.fds:
            self.fds[fd]["off"] += ret
    sys_readv = sys_read

    def sys_lseek(self, args, ret, retpath):
        fd = fdarg(args[0])[0]
        if ret >= 0 and fd in self.fds:
            self.fds[fd]["off"] = ret

    def sys_copy_file_range(self, args, ret, retpath):
        o = self.tracked(fdarg(args[2])[0])
        if ret <= 0 or o is None:
            return
        fdi, pin = fdarg(args[0])
        src = self.fds.setdefault(fdi, {"ext": pin, "off": 0})
        if not src.get("ext") or args[1] != "NULL" or args[3] != "NULL":
            raise Unsupported("copy_file_range " + ", ".join(args[:4]))
        with open(src["ext"], "rb") as f:
            f.seek(src["off"])
            data = f.read(ret)
        src["off"] += ret
        self.write(o, data)

    def sys_sendfile(self, args, ret, retpath):
        if ret > 0 and self.tracked(fdarg(args[0])[0]):
            raise Unsupported("sendfile into a traced file")

    def sys_splice(self, args, ret, retpath):
        if ret > 0 and self.tracked(fdarg(args[2])[0]):
            raise Unsupported("splice into a traced file")

    def sys_fallocate(self, args, ret, retpath):
        if ret == 0 and self.tracked(fdarg(args[0])[0]):
            raise Unsupported("fallocate of a traced file")

    def sys_ftruncate(self, args, ret, retpath):
        o = self.tracked(fdarg(args[0])[0])
        if ret == 0 and o is not None and not o["shm"]:
            self.truncate(o["ino"], int(args[1]))

    def sys_truncate(self, args, ret, retpath):
        rel = self.rel(self.path(None, args[0]))
        if ret == 0 and rel is not None:
            self.truncate(self.names[rel], int(args[1]))

    def sys_mmap(self, args, ret, retpath):
        o = self.tracked(fdarg(args[4])[0]) if args[4] != "-1" else None
        if o is not None and not o["shm"] and "MAP_SHARED" in args[3] \
                and "PROT_WRITE" in args[2]:
            raise Unsupported("shared writable mmap of a traced file")

    # -- durability
    def sys_fsync(self, args, ret, retpath):
        o = self.fds.get(fdarg(args[0])[0])
        if ret != 0 or o is None:
            return
        if "ino" in o:
            self.ops.append(("fsync", o["ino"]))
        elif "dir" in o:
            self.ops.append(("dirsync", o["dir"]))
    sys_fdatasync = sys_fsync

    def sys_sync(self, args, ret, retpath):
        if ret == 0:
            self.ops.append(("sync",))

    def sys_syncfs(self, args, ret, retpath):
        o = self.fds.get(fdarg(args[0])[0])
        if ret == 0 and o is not None and ("ino" in o or "dir" in o):
            self.ops.append(("sync",))

    # -- names
    def sys_renameat2(self, args, ret, retpath, pair=None):
        if ret != 0:
            return
        if pair is None:
            pair = (self.path(args[0], args[1]), self.path(args[2], args[3]))
        a, b = self.rel(pair[0]), self.rel(pair[1])
        exchange = len(args) > 4 and "RENAME_EXCHANGE" in args[4]
        if a is None and b is None:
            return
        if a is None or (b is None and exchange):
            raise Unsupported("a rename into the directory from outside")
        if b is None:               # moved out: gone from here
            self.name_op([a], lambda n, a=a: n.pop(a))
            return

        def fn(n, a=a, b=b, x=exchange):
            if x:
                n[a], n[b] = n[b], n[a]
            elif n.get(b) != n[a]:  # two links of one inode: a no-op
                n[b] = n.pop(a)
        self.name_op([a, b], fn)

    def sys_renameat(self, args, ret, retpath):
        self.sys_renameat2(args, ret, retpath)

    def sys_rename(self, args, ret, retpath):
        self.sys_renameat2(args, ret, retpath,
                           (self.path(None, args[0]), self.path(None, args[1])))

    def sys_linkat(self, args, ret, retpath, pair=None):
        if ret != 0:
            return
        if pair is None:
            src = None
            if len(args) > 4 and "AT_EMPTY_PATH" in args[4]:
                src = ("fd", fdarg(args[0])[0])
            else:
                p = self.path(args[0], args[1])
                m = re.match(r"^/proc/self/fd/(\d+)$", p)
                src = ("fd", int(m.group(1))) if m else ("path", p)
            b = self.rel(self.path(args[2], args[3]))
        else:
            src, b = ("path", pair[0]), self.rel(pair[1])
        if b is None:
            return
        if src[0] == "fd":
            o = self.tracked(src[1])
            ino = o["ino"] if o else None
        else:
            a = self.rel(src[1])
            ino = self.names.get(a) if a is not None else None
        if ino is None:
            raise Unsupported("a link into the directory of an unknown file")
        self.name_op([b], lambda n, b=b, i=ino: n.__setitem__(b, i))

    def sys_link(self, args, ret, retpath):
        self.sys_linkat(args, ret, retpath,
                        (self.path(None, args[0]), self.path(None, args[1])))

    def sys_unlinkat(self, args, ret, retpath, p=None):
        if ret != 0:
            return
        a = self.rel(p if p is not None else self.path(args[0], args[1]))
        if a is not None:
            self.name_op([a], lambda n, a=a: n.pop(a, None))

    def sys_unlink(self, args, ret, retpath):
        self.sys_unlinkat(args, ret, retpath, self.path(None, args[0]))
    sys_rmdir = sys_unlink

    def refuse_inside(self, what, p):
        if self.rel(p) is not None:
            raise Unsupported(what + " in the directory")

    def sys_mkdir(self, args, ret, retpath):
        if ret == 0:
            self.refuse_inside("mkdir", self.path(None, args[0]))
    sys_mknod = sys_mkdir

    def sys_symlink(self, args, ret, retpath):
        if ret == 0:                # symlink(target, linkpath)
            self.refuse_inside("symlink", self.path(None, args[1]))

    def sys_mkdirat(self, args, ret, retpath):
        if ret == 0:
            self.refuse_inside("mkdirat", self.path(args[0], args[1]))
    sys_mknodat = sys_mkdirat

    def sys_symlinkat(self, args, ret, retpath):
        if ret == 0:
            self.refuse_inside("symlinkat", self.path(args[1], args[2]))

    def sys_chdir(self, args, ret, retpath):
        if ret == 0:
            raise Unsupported("chdir")
    sys_fchdir = sys_chdir


def snapshot(root):
    files = {}
    for dirpath, dirs, names in os.walk(root):
        if dirpath != root or dirs:
            raise Unsupported("subdirectories are not modelled")
        for f in names:
            with open(os.path.join(dirpath, f), "rb") as fh:
                files[f] = fh.read()
    return files


def record(root, argv, stdin_path, stdin_data, log):
    root = os.path.realpath(root)
    initial = snapshot(root)
    cmd = ["strace", "-qq", "-y", "-xx", "-s", "16777216",
           "-e", "trace=" + TRACED, "-o", log] + argv
    if stdin_path:
        with open(stdin_path, "rb") as stdin:
            r = subprocess.run(cmd, cwd=root, stdin=stdin,
                               capture_output=True)
    else:
        r = subprocess.run(cmd, cwd=root, input=stdin_data,
                           capture_output=True)
    t = Trace(root, initial)
    with open(log) as f:
        for line in f:
            if line.startswith(("+++ ", "--- ")):
                continue
            m = LINE.match(line)
            if not m:
                raise Unsupported("cannot read the trace line %r"
                                  % line[:80])
            if m.group(3) == "?":
                continue            # exit_group
            t.call(m.group(1), split_args(m.group(2)), int(m.group(3), 0),
                   unhex(m.group(4)).decode() if m.group(4) else None)
    # The model must agree with the disk, or it has missed something.
    if r.returncode == 0:
        if not t.ops:
            raise Unsupported("the trace changed nothing in the directory")
        real = {k: v for k, v in snapshot(root).items()
                if not k.endswith("-shm")}
        model = {k: v for k, v in state(t, len(t.ops), "all").items()
                 if not k.endswith("-shm")}
        if real != model:
            raise Unsupported("the model's last state is not what is on "
                              "disk: %s" % sorted(set(real.items()) ^
                                                  set(model.items()))[:1])
    return t, r.returncode, r.stderr.decode(errors="replace")


def state(t, k, model):
    """The directory as a power cut after the first k ops could leave it:
    {relpath: content}. Models: all (everything persisted), data (file
    data not followed by an fsync of that file lost), names (creates,
    renames, links, unlinks not followed by an fsync of their directory
    lost), both (the two losses at once)."""
    last = {}                         # ('fsync', inode) etc. -> last index
    for i, op in enumerate(t.ops[:k]):
        if op[0] in ("fsync", "dirsync", "sync"):
            last[op] = i

    def durable(key, i):
        return max(last.get(key, -1), last.get(("sync",), -1)) > i
    lose_data = model in ("data", "both")
    lose_names = model in ("names", "both")
    contents = {ino: bytearray(d) for ino, d in t.initial.items()}
    names = dict(t.initial_names)
    for i, op in enumerate(t.ops[:k]):
        if op[0] == "data":
            if not lose_data or durable(("fsync", op[1]), i):
                op[2](contents.setdefault(op[1], bytearray()))
        elif op[0] == "name":
            if not lose_names or all(durable(("dirsync", d), i)
                                     for d in op[1]):
                op[2](names)
    return {rel: bytes(contents.get(ino, b"")) for rel, ino in names.items()}


# ---- the scenarios and their invariants ----------------------------------
# A check gets the rebuilt directory and whether the tool had said ok by
# then; it returns None or what is wrong.

OLD = b"the old content\n"
NEW = bytes(range(256)) * 1200 + b"tail without newline"   # > 256 KiB: several writes
RECORDS = [b"record %03d %s\n" % (i, b"x" * (i * 37 % 300)) for i in range(40)]


def check_replace(files, said_ok, old=OLD):
    f = files.get("f")
    if said_ok and f != NEW:
        return "said ok, but f is %s" % describe(f, old)
    if said_ok and any(n.startswith(".f.cs-") for n in files):
        return "said ok, but a temp file is left"
    if f is not None and f != NEW and f != old:
        return "f is %s" % describe(f, old)
    if f is None and old is not None:
        return "f is gone"
    return None


def check_backup(files, said_ok):
    """-b: f~ is only ever the old content, and there once it said ok."""
    bak = files.get("f~")
    if bak is not None and bak != OLD:
        return "f~ is not the old content"
    if said_ok and bak is None:
        return "said ok, but f~ is missing"
    return check_replace(files, said_ok)


def describe(f, old):
    if f is None:
        return "missing"
    if f == old:
        return "the old content"
    return "neither old nor new (%d bytes)" % len(f)


def check_append(files, said_ok, old=b"old record\n"):
    log = files.get("log")
    if log is None:
        if said_ok:
            return "said ok, but log is missing"
        return "log is gone" if old is not None else None
    if not log.startswith(old or b""):
        return "the old records were damaged"
    rest = log[len(old or b""):]
    n = 0
    while n < len(RECORDS) and rest.startswith(RECORDS[n]):
        rest = rest[len(RECORDS[n]):]
        n += 1
    if said_ok and (n != len(RECORDS) or rest):
        return "said ok, but %d of %d records are there" % (n, len(RECORDS))
    if rest and not (n < len(RECORDS) and RECORDS[n].startswith(rest)
                     and not rest.endswith(b"\n")):
        return "record %d is not whole: %r" % (n, rest[:40])
    return None


def check_sql(files, said_ok, fresh=False):
    """sqlwal_check.check on a state: the 50 rows all there or none."""
    with tempfile.TemporaryDirectory() as d:
        for suffix in ("", "-wal", "-journal"):
            if "db" + suffix in files:
                with open(os.path.join(d, "db" + suffix), "wb") as f:
                    f.write(files["db" + suffix])
        why = sqlwal_check.check(os.path.join(d, "db"), 50,
                                 "all" if said_ok else "either", fresh)
    return None if why is None else ("said ok, but " + why if said_ok
                                     else why)


INSERT = sqlwal_check.sql(50).encode()
SCHEMA = sqlwal_check.TABLE.encode()


def base_db(d):
    con = sqlite3.connect(os.path.join(d, "db"))
    con.executescript(sqlwal_check.SCHEMA)
    con.close()


# name, argv, initial files, stdin (bytes: a pipe; str: a file), check
SCENARIOS = [
    ("atomicwrite", ["atomicwrite", "f"], {"f": OLD}, NEW, check_replace),
    ("atomicwrite-from-file", ["atomicwrite", "f"], {"f": OLD}, "NEW",
     check_replace),
    ("atomicwrite-new-file", ["atomicwrite", "f"], {}, NEW,
     lambda f, ok: check_replace(f, ok, None)),
    ("atomicwrite-backup", ["atomicwrite", "-b", "f"], {"f": OLD}, NEW,
     check_backup),
    ("atomicappend", ["atomicappend", "-S", "full", "-l", "log"],
     {"log": b"old record\n"}, b"".join(RECORDS), check_append),
    ("atomicappend-new-file", ["atomicappend", "-S", "full", "-l", "log"],
     {}, b"".join(RECORDS), lambda f, ok: check_append(f, ok, None)),
    ("atomicappend-data-sync", ["atomicappend", "-S", "data", "-l", "log"],
     {"log": b"old record\n"}, b"".join(RECORDS), check_append),
    # Not durable by default, so nothing is promised after a power cut
    # but whole records.
    ("atomicappend-no-sync", ["atomicappend", "-l", "log"],
     {"log": b"old record\n"}, b"".join(RECORDS),
     lambda f, ok: check_append(f, False)),
    ("sqlwal", ["sqlwal", "--durable", "db"], base_db, INSERT, check_sql),
    ("sqlwal-normal-sync", ["sqlwal", "db"], base_db, INSERT,
     lambda f, ok: check_sql(f, False)),
    ("sqlwal-new-db", ["sqlwal", "--durable", "db"], {}, SCHEMA + INSERT,
     lambda f, ok: check_sql(f, ok, True)),
]

MODELS = ("all", "data", "names", "both")


def run(bindir, scenario, keep):
    name, argv, files, stdin, check = scenario
    with tempfile.TemporaryDirectory(prefix="crashsafe-replay.") as tmp:
        root = os.path.join(tmp, "dir")
        os.mkdir(root)
        if callable(files):
            files(root)
        else:
            for rel, data in files.items():
                with open(os.path.join(root, rel), "wb") as f:
                    f.write(data)
        if isinstance(stdin, str):
            stdin_path = os.path.join(tmp, stdin)
            with open(stdin_path, "wb") as f:
                f.write(NEW)
            stdin = None
        else:
            stdin_path = None
        argv = [os.path.join(bindir, argv[0])] + argv[1:]
        t, status, err = record(root, argv, stdin_path, stdin,
                                os.path.join(tmp, "trace"))
        if keep:
            subprocess.run(["cp", os.path.join(tmp, "trace"), keep + "." + name])
    if status != 0:
        raise RunError("%s exited %d: %s" % (argv[0], status, err.strip()))
    seen, bad = {}, []
    n = len(t.ops)
    for k in range(n + 1):
        for model in MODELS:
            files_k = state(t, k, model)
            key = (tuple(sorted(files_k.items())), k == n)
            if key not in seen:
                seen[key] = check(files_k, k == n)
            if seen[key]:
                bad.append("after op %d of %d, model %s: %s"
                           % (k, n, model, seen[key]))
    return n, (n + 1) * len(MODELS), len(seen), bad


def main():
    args = sys.argv[1:]
    keep = None
    if args[:1] == ["-k"]:
        keep, args = args[1], args[2:]
    bindir, wanted = os.path.abspath(args[0]), args[1:]
    total_states = failed = errors = 0
    for sc in SCENARIOS:
        if wanted and sc[0] not in wanted and sc[1][0] not in wanted:
            continue
        try:
            ops, states, distinct, bad = run(bindir, sc, keep)
        except (Unsupported, RunError) as e:
            print("%-24s ERROR: %s" % (sc[0], e))
            errors += 1
            continue
        total_states += states
        print("%-24s %4d ops %5d states (%4d distinct)  %s"
              % (sc[0], ops, states, distinct,
                 "ok" if not bad else "%d VIOLATIONS" % len(bad)))
        for b in bad[:3]:
            print("    " + b)
        failed += bool(bad)
    print("replay: %d states, %d scenario(s) failed, %d could not run"
          % (total_states, failed, errors))
    return 2 if errors else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
