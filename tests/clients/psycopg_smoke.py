"""psycopg 3 smoke test against a running server.

Usage: python3 psycopg_smoke.py "<libpq connection string>"

Exercises the extended protocol (cursor.execute with parameters, prepared
statements with prepare=True), the simple protocol (psycopg.ClientCursor,
which interpolates parameters client-side), transactions and error
SQLSTATEs. Exits non-zero with a message on the first failure.
"""

import datetime
import decimal
import sys
import uuid

try:
    import psycopg
except ImportError:
    sys.exit("psycopg (3) is not installed: pip install 'psycopg[binary]'")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS py_items")
        cur.execute(
            "CREATE TABLE py_items (id int PRIMARY KEY, name text, price numeric(8,2), "
            "ok boolean, born date, at timestamp, u uuid, data bytea)"
        )

        # Extended protocol with parameters of several types.
        rows = [
            (1, "pen", decimal.Decimal("1.50"), True, datetime.date(2024, 2, 29),
             datetime.datetime(2024, 2, 29, 13, 14, 15), uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), b"\x00\x01"),
            (2, "desk", decimal.Decimal("150.00"), False, None, None, None, None),
            (3, "o'quote", decimal.Decimal("0.01"), None, datetime.date(1999, 12, 31),
             datetime.datetime(1999, 12, 31, 23, 59, 59, 500000), uuid.UUID(int=0), b""),
        ]
        cur.executemany("INSERT INTO py_items VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
        cur.execute("SELECT id, name, price, ok, born, at, u, data FROM py_items ORDER BY id")
        got = cur.fetchall()
        check(len(got) == 3, f"expected 3 rows, got {got}")
        for g, r in zip(got, rows):
            check(tuple(g[:7]) == r[:7], f"row mismatch: {g} != {r}")
            check((bytes(g[7]) if g[7] is not None else None) == r[7], f"bytea mismatch: {g[7]!r}")

        cur.execute("SELECT name FROM py_items WHERE price > %s AND id <> %s ORDER BY id", (decimal.Decimal("1"), 3))
        check(cur.fetchall() == [("pen",), ("desk",)], "parameterized WHERE")

        # Binary results.
        bcur = conn.cursor(binary=True)
        bcur.execute("SELECT id, name, price FROM py_items WHERE id = %s", (1,))
        check(bcur.fetchone() == (1, "pen", decimal.Decimal("1.50")), "binary result")

        # Server-side prepared statements.
        for i in range(4):
            cur.execute("SELECT count(*) FROM py_items WHERE id > %s", (i,), prepare=True)
            check(cur.fetchone()[0] == max(0, 3 - i), f"prepared count for {i}")

        # Simple protocol: parameters interpolated client-side.
        ccur = psycopg.ClientCursor(conn)
        ccur.execute("SELECT name, price FROM py_items WHERE name = %s", ("o'quote",))
        check(ccur.fetchall() == [("o'quote", decimal.Decimal("0.01"))], "ClientCursor select")
        ccur.execute("UPDATE py_items SET price = price * %s WHERE id = %s", (2, 2))
        check(ccur.rowcount == 1, "ClientCursor update rowcount")

        # Errors carry SQLSTATEs.
        try:
            cur.execute("INSERT INTO py_items (id, name) VALUES (%s, %s)", (1, "dup"))
            check(False, "duplicate key accepted")
        except psycopg.errors.UniqueViolation as e:
            check(e.sqlstate == "23505", f"sqlstate {e.sqlstate}")
        try:
            cur.execute("SELECT * FROM no_such_table")
            check(False, "missing table accepted")
        except psycopg.errors.UndefinedTable:
            pass

    # Transactions (psycopg's default: implicit BEGIN).
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO py_items (id, name) VALUES (%s, %s)", (10, "tx"))
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM py_items WHERE id = 10")
            check(cur.fetchone()[0] == 0, "rollback kept the row")
        with conn.transaction():
            conn.execute("INSERT INTO py_items (id, name) VALUES (%s, %s)", (11, "committed"))
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM py_items WHERE id = %s", (11,))
            check(cur.fetchone() == ("committed",), "transaction commit")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO py_items (id, name) VALUES (%s, %s)", (12, "x"))
                conn.execute("SELECT 1 / 0")
        except psycopg.errors.DivisionByZero:
            pass
        cur = conn.execute("SELECT count(*) FROM py_items WHERE id = 12")
        check(cur.fetchone()[0] == 0, "failed transaction kept a row")
        conn.commit()

    print("psycopg smoke: ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        main(sys.argv[1])
    except AssertionError as e:
        sys.exit(f"psycopg smoke FAILED: {e}")
