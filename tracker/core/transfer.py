"""Moving a whole database to another one: a desk that outgrows SQLite takes everything to PostgreSQL (or back),
history, subscriptions, the delivery ledger and the link secret included, so the links in reminders already sent
and the calendar URLs people subscribed to keep working.

Both databases are brought to the same schema revision first; the target must hold no data yet. The source is
read from one snapshot (what other processes write after it stays behind: stop them first) and the target is
written in one transaction, so an error leaves it as it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Integer, Table, func, inspect, select, text, update

from tracker.core import store
from tracker.core.errors import Conflict, InvalidInput
from tracker.core.models import Base, Meta

BATCH = 1000  # rows per INSERT


def copy_to(source: Engine, target: Engine) -> dict[str, Any]:
    """Copy every row of `source` into the empty database `target`.

    :returns: {"target", "tables", "rows"} (rows per table, as copied and counted in the target).
    :raises InvalidInput: source and target are the same database.
    :raises Conflict: the target already holds data.
    """
    store.init(target)
    if source.url == target.url or _secret(source) == _secret(target):  # the same database however spelt, or a copy
        raise InvalidInput("copy-to: the target is this database, or already a copy of it; give an empty database")
    counts: dict[str, int] = {}
    snapshot = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
    with source.connect().execution_options(**snapshot) as read, read.begin():
        with store.transaction(target, write=True) as writing:
            write = writing.connection()
            _refuse_data(write, target)
            write.execute(Meta.__table__.delete())  # the target's fresh link secret gives way to the source's
            for table in Base.metadata.sorted_tables:
                counts[table.name] = _copy_table(read, write, table)
            if target.dialect.name == "postgresql":
                advance_sequences(write)
    return {"target": target.url.render_as_string(), "tables": len(counts), "rows": counts}


def _secret(engine: Engine) -> str | None:
    with store.transaction(engine) as session:
        return session.scalar(select(Meta.value).where(Meta.key == store.LINK_SECRET))


def _refuse_data(conn: Any, target: Engine) -> None:  # noqa: ANN401 - a SQLAlchemy Connection
    for table in Base.metadata.sorted_tables:
        if table.name != Meta.__tablename__ and conn.execute(select(func.count()).select_from(table)).scalar():
            raise Conflict(f"copy-to: {target.url.render_as_string()} already holds data ({table.name}); "
                           "give an empty database")  # fmt: skip


def _copy_table(read: Any, write: Any, table: Table) -> int:  # noqa: ANN401 - SQLAlchemy Connections
    """Rows go in batches in primary-key order; a column that points into its own table (a person's escalation
    contact) is filled in afterwards, so the order of the rows does not matter."""
    own = [c for c in table.c if any(fk.column.table is table for fk in c.foreign_keys)]
    rows = [dict(r._mapping) for r in read.execute(select(table).order_by(*table.primary_key.columns))]
    for start in range(0, len(rows), BATCH):
        write.execute(table.insert(), [{**r, **{c.name: None for c in own}} for r in rows[start : start + BATCH]])
    for column in own:
        key = next(iter(table.primary_key.columns))
        for row in (r for r in rows if r[column.name] is not None):
            write.execute(update(table).where(key == row[key.name]).values({column.name: row[column.name]}))
    copied = write.execute(select(func.count()).select_from(table)).scalar()
    if copied != len(rows):
        raise InvalidInput(f"copy-to: {table.name}: {len(rows)} rows read but {copied} in the target")
    return copied


def advance_sequences(conn: Any) -> None:  # noqa: ANN401 - a SQLAlchemy Connection
    """PostgreSQL, after rows were inserted with their ids: each id sequence moves past them, or the next insert
    would collide. Tables the database does not have yet (it is at an older revision) are skipped."""
    present = set(inspect(conn).get_table_names())
    for table in (t for t in Base.metadata.sorted_tables if t.name in present):
        if "id" in table.c and table.c.id.primary_key and isinstance(table.c.id.type, Integer):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                              f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))  # fmt: skip
