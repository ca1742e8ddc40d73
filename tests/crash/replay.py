#!/usr/bin/env python3
"""ALICE-style crash-state replay (TESTING.md section 4; Pillai et al.,
OSDI 2014) for crashsafe's single-threaded writers.

Each scenario runs one tool under strace, keeps the system calls that
change the scenario's directory (creates, writes, truncates, renames,
links, unlinks) and the fsyncs that make them durable, and rebuilds the
directory as it could be found after a power cut at every point of that
trace, under three persistence models:

  all    everything the trace did so far reached the disk;
  data   file data not followed by an fsync/fdatasync of that file is lost;
  names  creates, renames, links and unlinks not followed by an fsync of
         their directory are lost.

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

TRACED = ("open,openat,creat,close,dup,dup2,dup3,fcntl,read,write,pread64,"
          "pwrite64,readv,writev,pwritev,pwritev2,lseek,copy_file_range,"
          "sendfile,splice,ftruncate,truncate,fallocate,fsync,fdatasync,"
          "sync,syncfs,rename,renameat,renameat2,link,linkat,unlink,"
          "unlinkat,mkdir,mkdirat,rmdir,mmap")

HEX = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
LINE = re.compile(r'^(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)(?:<([^>]*)>)?')


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


def fdpath(arg):
    """'3<\\x2f..>' or 'AT_FDCWD<..>' -> (fd or None, path or None)."""
    m = re.match(r'^(-?\d+|AT_FDCWD)(?:<((?:\\x[0-9a-f]{2})*)[^>]*>)?$', arg)
    if not m:
        return None, None
    fd = None if m.group(1) == "AT_FDCWD" else int(m.group(1))
    return fd, unhex(m.group(2)).decode() if m.group(2) is not None else None


def string(arg):
    m = HEX.search(arg)
    return unhex(m.group(1)) if m else None


class Unsupported(Exception):
    """A call the model cannot replay faithfully: fail, never guess."""


class RunError(Exception):
    """The tool did not run as the scenario expects."""


class Trace:
    """The calls of one run that touch root, as persistence ops:
    ('data', inode, fn)      fn(bytearray) applies a write or truncate
    ('name', dirs, fn)       fn(names) applies a create/rename/link/unlink
    ('fsync', inode) / ('dirsync', dir) / ('sync',)"""

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
        return self.next_inode

    def rel(self, path):
        path = os.path.normpath(path)
        if path == self.root:
            return ""
        if path.startswith(self.root + "/"):
            return path[len(self.root) + 1:]
        return None

    def at(self, dirarg, namearg):
        name = string(namearg).decode()
        if name.startswith("/"):
            return self.rel(name)
        _, d = fdpath(dirarg)
        return self.rel(os.path.join(d, name)) if d else None

    def parent(self, rel):
        return os.path.dirname(rel)

    def name_op(self, rels, fn):
        fn(self.names)
        self.ops.append(("name", {self.parent(r) for r in rels}, fn))

    def data_op(self, ino, fn, newsize):
        self.sizes[ino] = newsize
        self.ops.append(("data", ino, fn))

    def write(self, ofd, data, off=None):
        ino = ofd["ino"]
        if off is None:
            off = self.sizes[ino] if ofd["append"] else ofd["off"]
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
        fds = self.fds
        fd0, _ = fdpath(args[0]) if args else (None, None)
        if name in ("open", "openat", "creat"):
            if ret < 0:
                return
            flags = args[1] if name == "open" else args[2] if name == "openat" \
                else "O_CREAT|O_WRONLY|O_TRUNC"
            rel = self.rel(retpath.replace(" (deleted)", ""))
            if rel is None:
                fds[ret] = {"ext": retpath, "off": 0}
                return
            if rel in self.dirs or "O_DIRECTORY" in flags:
                fds[ret] = {"dir": rel}
                return
            if "O_TMPFILE" in flags:
                ino = self.new_inode()
                self.sizes[ino] = 0
            elif rel not in self.names:
                ino = self.new_inode()
                self.sizes[ino] = 0
                self.name_op([rel], lambda n, r=rel, i=ino: n.__setitem__(r, i))
            else:
                ino = self.names[rel]
                if "O_TRUNC" in flags:
                    self.truncate(ino, 0)
            fds[ret] = {"ino": ino, "off": 0, "append": "O_APPEND" in flags,
                        "shm": rel.endswith("-shm")}
        elif name == "close":
            fds.pop(fd0, None)
        elif name in ("dup", "dup2", "dup3") or (
                name == "fcntl" and "F_DUPFD" in args[1]):
            if ret >= 0 and fd0 in fds:
                fds[ret] = fds[fd0]
        elif fd0 in fds and "ino" in fds[fd0] and fds[fd0]["shm"]:
            return          # the WAL index: mmap'd, rebuilt from the WAL
        elif name in ("write", "writev", "pwrite64", "pwritev", "pwritev2"):
            if ret <= 0 or fd0 not in fds or "ino" not in fds[fd0]:
                return
            data = b"".join(unhex(s) for s in HEX.findall(args[1]))[:ret]
            off = int(args[3]) if name.startswith("pwrite") else None
            self.write(fds[fd0], data, off)
        elif name in ("read", "readv") and fd0 in fds and ret > 0:
            fds[fd0]["off"] += ret
        elif name == "lseek" and fd0 in fds and ret >= 0:
            fds[fd0]["off"] = ret
        elif name == "copy_file_range":
            fdo, _ = fdpath(args[2])
            if ret <= 0 or fdo not in fds or "ino" not in fds[fdo]:
                return
            fdi, pin = fdpath(args[0])
            src = fds.setdefault(fdi, {"ext": pin, "off": 0})
            if "ext" not in src or args[1] != "NULL" or args[3] != "NULL":
                raise Unsupported("copy_file_range " + ", ".join(args[:4]))
            with open(src["ext"], "rb") as f:
                f.seek(src["off"])
                data = f.read(ret)
            src["off"] += ret
            self.write(fds[fdo], data)
        elif name in ("sendfile", "splice", "fallocate", "truncate"):
            if any(fdpath(a)[0] in fds and "ino" in fds[fdpath(a)[0]]
                   for a in args[:3]) or name == "truncate":
                raise Unsupported(name)
        elif name == "mmap":
            fd = fdpath(args[4])[0]
            if fd in fds and "ino" in fds[fd] and not fds[fd]["shm"] \
                    and "MAP_SHARED" in args[3] and "PROT_WRITE" in args[2]:
                raise Unsupported("shared writable mmap of a traced file")
        elif name == "ftruncate":
            if ret == 0 and fd0 in fds and "ino" in fds[fd0]:
                self.truncate(fds[fd0]["ino"], int(args[1]))
        elif name in ("fsync", "fdatasync"):
            if ret == 0 and fd0 in fds:
                o = fds[fd0]
                if "ino" in o:
                    self.ops.append(("fsync", o["ino"]))
                elif "dir" in o:
                    self.ops.append(("dirsync", o["dir"]))
        elif name in ("sync", "syncfs"):
            self.ops.append(("sync",))
        elif ret != 0:
            return
        elif name in ("rename", "renameat", "renameat2"):
            a, b = ((self.rel(string(args[0]).decode()),
                     self.rel(string(args[1]).decode())) if name == "rename"
                    else (self.at(args[0], args[1]), self.at(args[2], args[3])))
            if a is None or b is None:
                return
            exchange = name == "renameat2" and "RENAME_EXCHANGE" in args[4]

            def fn(n, a=a, b=b, x=exchange):
                if x:
                    n[a], n[b] = n[b], n[a]
                else:
                    n[b] = n.pop(a)
            self.name_op([a, b], fn)
        elif name in ("link", "linkat"):
            if name == "linkat" and "AT_EMPTY_PATH" in args[4]:
                ino = fds[fd0]["ino"]
                b = self.at(args[2], args[3])
            else:
                a, b = ((self.rel(string(args[0]).decode()),
                         self.rel(string(args[1]).decode())) if name == "link"
                        else (self.at(args[0], args[1]),
                              self.at(args[2], args[3])))
                ino = self.names.get(a)
            if b is not None and ino is not None:
                self.name_op([b], lambda n, b=b, i=ino: n.__setitem__(b, i))
        elif name in ("unlink", "unlinkat", "rmdir"):
            a = self.rel(string(args[0]).decode()) if name != "unlinkat" \
                else self.at(args[0], args[1])
            if a is not None:
                self.name_op([a], lambda n, a=a: n.pop(a, None))
        elif name in ("mkdir", "mkdirat"):
            raise Unsupported(name)


def record(root, argv, stdin_path, stdin_data, log):
    initial = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                initial[os.path.relpath(p, root)] = fh.read()
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
            m = LINE.match(line)
            if not m or m.group(3) == "?":
                continue
            ret = int(m.group(3), 0)
            retpath = unhex(m.group(4)).decode() if m.group(4) and \
                m.group(4).startswith("\\x") else None
            t.call(m.group(1), split_args(m.group(2)), ret, retpath)
    return t, r.returncode, r.stderr.decode(errors="replace")


def state(t, k, model):
    """The directory as a power cut after the first k ops could leave it:
    {relpath: content}."""
    last = {}                         # ('fsync', inode) etc. -> last index
    for i, op in enumerate(t.ops[:k]):
        if op[0] in ("fsync", "dirsync", "sync"):
            last[op] = i

    def durable(key, i):
        return max(last.get(key, -1), last.get(("sync",), -1)) > i
    contents = {ino: bytearray(d) for ino, d in t.initial.items()}
    names = dict(t.initial_names)
    for i, op in enumerate(t.ops[:k]):
        if op[0] == "data":
            if model != "data" or durable(("fsync", op[1]), i):
                op[2](contents.setdefault(op[1], bytearray()))
        elif op[0] == "name":
            if model != "names" or all(durable(("dirsync", d), i)
                                       for d in op[1]):
                op[2](names)
    return {rel: bytes(contents.get(ino, b"")) for rel, ino in names.items()}


# ---- the scenarios and their invariants ----------------------------------
# A check gets the rebuilt directory and whether the tool had said ok by
# then; it returns None or what is wrong.

OLD = b"the old content\n"
NEW = bytes(range(256)) * 300 + b"tail without newline"
RECORDS = [b"record %03d %s\n" % (i, b"x" * (i * 37 % 300)) for i in range(40)]


def check_replace(files, said_ok, old=OLD):
    f = files.get("f")
    if said_ok and f != NEW:
        return "said ok, but f is %s" % describe(f, old)
    if f is not None and f != NEW and f != old:
        return "f is %s" % describe(f, old)
    if f is None and old is not None:
        return "f is gone"
    return None


def describe(f, old):
    if f is None:
        return "missing"
    if f == old:
        return "the old content"
    return "neither old nor new (%d bytes)" % len(f)


def check_append(files, said_ok, old=b"old record\n"):
    log = files.get("log")
    if log is None:
        return "said ok, but log is missing" if said_ok or old else None
    if not log.startswith(old or b""):
        return "the old records were damaged"
    rest = log[len(old or b""):]
    n = 0
    while rest.startswith(RECORDS[n] if n < len(RECORDS) else b"\0"):
        rest = rest[len(RECORDS[n]):]
        n += 1
    if said_ok and (n != len(RECORDS) or rest):
        return "said ok, but %d of %d records are there" % (n, len(RECORDS))
    if rest and not (n < len(RECORDS) and RECORDS[n].startswith(rest)
                     and not rest.endswith(b"\n")):
        return "record %d is not whole: %r" % (n, rest[:40])
    return None


def check_sql(files, said_ok, fresh=False):
    if "db" not in files:
        return "said ok, but db is missing" if said_ok or not fresh else None
    with tempfile.TemporaryDirectory() as d:
        for suffix in ("", "-wal", "-journal"):
            if "db" + suffix in files:
                with open(os.path.join(d, "db" + suffix), "wb") as f:
                    f.write(files["db" + suffix])
        try:
            con = sqlite3.connect(os.path.join(d, "db"))
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                return "integrity_check: " + ok
            tables = con.execute("SELECT count(*) FROM sqlite_master "
                                 "WHERE name = 't'").fetchone()[0]
            if tables == 0:
                return "said ok, but table t is missing" \
                    if said_ok or not fresh else None
            n = con.execute("SELECT count(*) FROM t "
                            "WHERE v LIKE 'row%'").fetchone()[0]
            before = con.execute("SELECT count(*) FROM t "
                                 "WHERE v = 'before'").fetchone()[0]
            con.close()
        except sqlite3.Error as e:
            return "sqlite: %s" % e
    if before != (0 if fresh else 1):
        return "the row committed before is %s" % ("gone" if not before
                                                   else "doubled")
    if n not in (0, 50):
        return "%d of the transaction's 50 rows" % n
    if said_ok and n != 50:
        return "said ok, but the transaction's rows are missing"
    return None


INSERT = (b"WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c "
          b"WHERE k < 50) INSERT INTO t(v) SELECT 'row' || k FROM c;\n")
SCHEMA = b"CREATE TABLE t(k INTEGER PRIMARY KEY, v);\n"


def base_db(d):
    con = sqlite3.connect(os.path.join(d, "db"))
    con.executescript(SCHEMA.decode() +
                      "INSERT INTO t(v) VALUES ('before');")
    con.close()


# name, argv, initial files, stdin (bytes: a pipe; str: a file), check
SCENARIOS = [
    ("atomicwrite", ["atomicwrite", "f"], {"f": OLD}, NEW, check_replace),
    ("atomicwrite-from-file", ["atomicwrite", "f"], {"f": OLD}, "NEW",
     check_replace),
    ("atomicwrite-new-file", ["atomicwrite", "f"], {}, NEW,
     lambda f, ok: check_replace(f, ok, None)),
    ("atomicwrite-backup", ["atomicwrite", "-b", "f"], {"f": OLD}, NEW,
     lambda f, ok: check_replace(f, ok) or (
         "said ok, but f.bak is not the old content"
         if ok and f.get("f~", f.get("f.bak")) != OLD else None)),
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

MODELS = ("all", "data", "names")


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
