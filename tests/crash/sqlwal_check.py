#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The sqlwal crash check, one for every harness (crashtest's kill sweep,
the power-cut replay, the ext4 image, the fault matrix): a table t whose
row 'before' was committed first, then one transaction of N rows
labelled 'row K'. After a crash or a fault the database must pass
integrity_check, keep 'before', and hold all N rows or none.

    sqlwal_check.py schema          the table and its 'before' row, as SQL
    sqlwal_check.py sql N [PAD]     the transaction: N rows ('row K' and
                                    PAD x's)
    sqlwal_check.py check DB N all|none|either [fresh]
                                    exit 0, or 1 with the reason; fresh: a
                                    database the transaction's script
                                    created, so no 'before' row and no table
                                    are no loss
"""
import os
import sqlite3
import sys

SCHEMA = ("CREATE TABLE t(k INTEGER PRIMARY KEY, v);\n"
          "INSERT INTO t(v) VALUES ('before');\n")
TABLE = "CREATE TABLE t(k INTEGER PRIMARY KEY, v);\n"


def sql(n, pad=0):
    """The transaction's script: n rows."""
    row = ("printf('row %%d %%.%dc', k, 'x')" % pad) if pad else \
        "'row ' || k"
    return ("WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c "
            "WHERE k < %d) INSERT INTO t(v) SELECT %s FROM c;\n" % (n, row))


def check(path, n, want, fresh=False):
    """None when the database at path is as it must be, else why not."""
    if not os.path.exists(path):
        return "the database is missing" if want == "all" or not fresh \
            else None
    try:
        con = sqlite3.connect(path)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            return "integrity_check: " + ok
        if con.execute("SELECT count(*) FROM sqlite_master "
                       "WHERE name = 't'").fetchone()[0] == 0:
            return "table t is missing" if want == "all" or not fresh \
                else None
        rows = con.execute("SELECT count(*) FROM t "
                           "WHERE v LIKE 'row %'").fetchone()[0]
        before = con.execute("SELECT count(*) FROM t "
                             "WHERE v = 'before'").fetchone()[0]
        con.close()
    except sqlite3.Error as e:
        return "sqlite: %s" % e
    if before != (0 if fresh else 1):
        return "the row committed before is %s" % ("gone" if not before
                                                   else "doubled")
    if rows not in (0, n):
        return "%d of the transaction's %d rows" % (rows, n)
    if want == "all" and rows != n:
        return "the transaction's rows are missing"
    if want == "none" and rows != 0:
        return "the transaction's rows are there"
    return None


def main(argv):
    if argv[1:2] == ["schema"]:
        sys.stdout.write(SCHEMA)
    elif argv[1:2] == ["sql"] and len(argv) in (3, 4):
        sys.stdout.write(sql(int(argv[2]), int(argv[3]) if len(argv) == 4
                             else 0))
    elif argv[1:2] == ["check"] and len(argv) in (5, 6) and \
            argv[4] in ("all", "none", "either"):
        why = check(argv[2], int(argv[3]), argv[4],
                    argv[5:] == ["fresh"])
        if why is not None:
            print("%s: %s" % (argv[2], why), file=sys.stderr)
            return 1
    else:
        print("usage: sqlwal_check.py schema | sql N [PAD] | "
              "check DB N all|none|either [fresh]", file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
