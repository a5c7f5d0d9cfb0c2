"""The database schema: SQLAlchemy 2 typed models. Every datetime is stored as aware UTC."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; a naive value is a bug and is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        return value.astimezone(UTC) if dialect.name != "sqlite" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Status(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


OPEN_STATUSES = (Status.open, Status.in_progress)


class Role(enum.StrEnum):
    lead = "lead"
    member = "member"


class Precision(enum.StrEnum):
    """How much of a date the source gives: the exact days, or only the month."""

    day = "day"
    month = "month"


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    # The data file a record was loaded from, by name (people.yaml): another file claiming its slug is refused
    # unless moved (README "Reloading"); NULL for records made by `add`/`import`, or before tracker 0.3.
    loaded_from: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    tz: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(200))
    quiet_hours: Mapped[str] = mapped_column(String(11), default="20:00-08:00")
    reminder_policy: Mapped[dict] = mapped_column(JSON, default=dict)
    email_muted: Mapped[bool] = mapped_column(default=False)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    escalation: Mapped[Person | None] = relationship(remote_side=[id])
    # The language of their pages and reminders (vocab.LOCALES); NULL: the browser's (Accept-Language), else English.
    locale: Mapped[str | None] = mapped_column(String(16))
    # Meetings they attend are also e-mailed to them as iMIP invitations (RFC 6047) unless they opt out.
    invitations: Mapped[bool] = mapped_column(default=True)


class AccessRole(enum.StrEnum):
    """What a person may do on the web and over CalDAV (register.access)."""

    lead = "lead"
    officer = "officer"
    viewer = "viewer"


class Account(Base):
    """A person's way in: a role, and a password hash for desks without mail (sign-in links need none). No row: the
    person cannot sign in."""

    __tablename__ = "accounts"
    tracks_data_version = False  # feeds do not show accounts
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    person: Mapped[Person] = relationship()
    role: Mapped[AccessRole] = mapped_column(Enum(AccessRole, name="access_role"), default=AccessRole.officer)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id, PHC string
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_visit_at: Mapped[datetime | None]  # "what changed since my last visit" on My desk


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, as with feed tokens."""

    __tablename__ = "web_sessions"
    tracks_data_version = False
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    person: Mapped[Person] = relationship()
    csrf: Mapped[str] = mapped_column(String(64))  # the per-session token every state-changing form carries
    how: Mapped[str] = mapped_column(String(16))  # password | link
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute expiry; idle expiry counts from last_seen_at
    revoked_at: Mapped[datetime | None]


class SignInLink(Base):
    """A single-use e-mailed sign-in link: only the SHA-256 of its token is stored."""

    __tablename__ = "sign_in_links"
    tracks_data_version = False
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SignInFailure(Base):
    """One refused sign-in, counted per account and per client address for the rate limit (kept in the database so
    that every worker process counts the same attempts)."""

    __tablename__ = "sign_in_failures"
    tracks_data_version = False
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)  # "account:<e-mail or slug>" or "address:<ip>"
    at: Mapped[datetime] = mapped_column(index=True)


class AppPassword(Base):
    """A password for one task or calendar app (CalDAV), never the sign-in password: made at random, shown once,
    revocable on its own. Only its SHA-256 is stored: it is a long random secret, as feed tokens are, so a slow
    hash would add nothing but a delay to every request an app makes."""

    __tablename__ = "app_passwords"
    tracks_data_version = False
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    person: Mapped[Person] = relationship()
    label: Mapped[str] = mapped_column(String(100))  # which app it is for, as its owner named it
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DavSyncState(Base):
    """What a CalDAV collection held when a sync token was handed out (RFC 6578): {href: etag}. The next
    sync-collection report with that token lists only the hrefs whose etag differs, or that came or went."""

    __tablename__ = "dav_sync_states"
    tracks_data_version = False
    token: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the collection path and state
    collection: Mapped[str] = mapped_column(String(300))
    mark: Mapped[str] = mapped_column(String(64), index=True)  # a hash of the collection's mark (see dav.storage)
    state: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class DavView(Base):
    """How one person's task or calendar app shows one CalDAV collection (a list's name, colour, order, default
    alarms: what the app sets with PROPPATCH). Theirs alone: another person, the desk and the feeds never see it."""

    __tablename__ = "dav_views"
    tracks_data_version = False
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    collection: Mapped[str] = mapped_column(String(300), primary_key=True)  # its path, e.g. apec-officer/items
    props: Mapped[dict] = mapped_column(JSON)  # Radicale's property names ("ICAL:calendar-color") to text
    updated_at: Mapped[datetime]


class CommitteeMember(Base):
    """A person who sits on a committee: an officer may change the committee's items."""

    __tablename__ = "committee_members"
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)


class Committee(Base):
    __tablename__ = "committees"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    loaded_from: Mapped[str | None] = mapped_column(String(255))  # as Person.loaded_from
    name: Mapped[str] = mapped_column(String(300))
    role: Mapped[Role] = mapped_column(Enum(Role, name="committee_role"))
    category: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    source_quote: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[Person]] = relationship(secondary="committee_members", order_by="Person.slug")


class MeetingSeries(Base):
    """A recurring meeting: an RFC 5545 RRULE from a first (often placeholder) occurrence."""

    __tablename__ = "meeting_series"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    loaded_from: Mapped[str | None] = mapped_column(String(255))  # as Person.loaded_from
    uid: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    rrule: Mapped[str] = mapped_column(String(300))
    tz: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime]
    days: Mapped[int] = mapped_column(Integer, default=1)
    precision: Mapped[Precision] = mapped_column(Enum(Precision, name="date_precision"), default=Precision.day)
    description: Mapped[str] = mapped_column(Text, default="")
    source_quote: Mapped[str] = mapped_column(Text, default="")
    attendees: Mapped[list[str]] = mapped_column(JSON, default=list)
    sequence: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
    loaded: Mapped[dict] = mapped_column(JSON, default=dict)  # as Item.loaded: the base of the merge on reload
    occurrences: Mapped[list[Meeting]] = relationship(back_populates="series")


class Meeting(Base):
    """A dated meeting or event; with series + recurrence_id it overrides one instance of the series."""

    __tablename__ = "meetings"
    __table_args__ = (UniqueConstraint("uid", "recurrence_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    loaded_from: Mapped[str | None] = mapped_column(String(255))  # as Person.loaded_from
    uid: Mapped[str] = mapped_column(String(300), index=True)
    title: Mapped[str] = mapped_column(String(300))
    number: Mapped[int | None]
    series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id"))
    series: Mapped[MeetingSeries | None] = relationship(back_populates="occurrences")
    recurrence_id: Mapped[datetime | None]
    start: Mapped[datetime]
    end: Mapped[datetime]
    all_day: Mapped[bool] = mapped_column(default=True)
    tz: Mapped[str] = mapped_column(String(64))
    precision: Mapped[Precision] = mapped_column(Enum(Precision, name="date_precision"), default=Precision.day)
    place: Mapped[str] = mapped_column(String(300), default="")
    host: Mapped[str] = mapped_column(String(300), default="")
    theme: Mapped[str] = mapped_column(Text, default="")
    subthemes: Mapped[list[str]] = mapped_column(JSON, default=list)
    our_role: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    source_quote: Mapped[str] = mapped_column(Text, default="")
    attendees: Mapped[list[str]] = mapped_column(JSON, default=list)
    cancelled: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(Text, default="")  # what the delegation came home with
    sequence: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
    loaded: Mapped[dict] = mapped_column(JSON, default=dict)  # as Item.loaded: the base of the merge on reload


class Decision(Base):
    """What a meeting decided: not an action, but the reason for some (Item.decision) and for a series' rhythm, a
    plan or a committee."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    loaded_from: Mapped[str | None] = mapped_column(String(255))  # as Person.loaded_from
    title: Mapped[str] = mapped_column(String(500))  # what was decided, in one line
    description: Mapped[str] = mapped_column(Text, default="")
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)  # the meeting that decided
    meeting: Mapped[Meeting] = relationship()
    category: Mapped[str | None] = mapped_column(String(64))  # a priority area, as Item.category
    affects_series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id"))  # e.g. its rhythm
    affects_series: Mapped[MeetingSeries | None] = relationship()
    affects_committee_id: Mapped[int | None] = mapped_column(ForeignKey("committees.id"))
    affects_committee: Mapped[Committee | None] = relationship()
    affects_plan: Mapped[str] = mapped_column(String(300), default="")  # e.g. "SMEWG Strategic Plan 2009–2012"
    source_quote: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    loaded: Mapped[dict] = mapped_column(JSON, default=dict)  # as Item.loaded


class ItemOwner(Base):
    __tablename__ = "item_owners"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    # Indexed on its own (the key leads with item_id): "items of this owner" is the register's commonest filter.
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)
    person: Mapped[Person] = relationship()


class Item(Base):
    """A follow-up action item. `loaded` holds, per source (yaml, ics), the record last loaded from it: the
    base of the three-way merge on reload."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    loaded_from: Mapped[str | None] = mapped_column(String(255))  # as Person.loaded_from
    uid: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    due: Mapped[datetime | None] = mapped_column(index=True)
    due_all_day: Mapped[bool] = mapped_column(default=True)
    tz: Mapped[str] = mapped_column(String(64))
    due_note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(Enum(Status, name="item_status"), default=Status.open, index=True)
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))
    meeting: Mapped[Meeting | None] = relationship(foreign_keys=[meeting_id])
    serves_meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))
    serves_meeting: Mapped[Meeting | None] = relationship(foreign_keys=[serves_meeting_id])
    serves_series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id"))
    serves_series: Mapped[MeetingSeries | None] = relationship()
    committee_id: Mapped[int | None] = mapped_column(ForeignKey("committees.id"))
    committee: Mapped[Committee | None] = relationship()
    source_quote: Mapped[str] = mapped_column(Text, default="")
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"), index=True)  # what it implements
    decision: Mapped[Decision | None] = relationship()
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))
    completed_how: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    reminder_policy: Mapped[dict] = mapped_column(JSON, default=dict)
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)  # the register sorted by last change
    loaded: Mapped[dict] = mapped_column(JSON, default=dict)
    dav_href: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)  # its name in a CalDAV app
    # The data version its last change committed (store._note_changes): what changed since a version, exactly.
    version: Mapped[int] = mapped_column(default=0, server_default="0", index=True)
    owner_links: Mapped[list[ItemOwner]] = relationship(order_by=ItemOwner.position, cascade="all, delete-orphan")
    history: Mapped[list[ItemChange]] = relationship(
        order_by="ItemChange.id", cascade="all, delete-orphan", back_populates="item"
    )

    @property
    def owners(self) -> list[Person]:
        return [link.person for link in self.owner_links]


class ItemChange(Base):
    """Append-only audit trail: who changed which field of an item, when, how."""

    __tablename__ = "item_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    item: Mapped[Item] = relationship(back_populates="history")
    at: Mapped[datetime] = mapped_column(index=True)  # My desk: what changed since my last visit
    by: Mapped[str] = mapped_column(String(200))
    how: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")


class Subscription(Base):
    """A calendar subscription: a secret URL (only the token's SHA-256 is kept) for one calendar."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    calendar: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    person: Mapped[Person | None] = relationship()
    alarms: Mapped[bool] = mapped_column(default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class FeedState(Base):
    """The Last-Modified of a feed's current bytes: set when its ETag first changes, strictly increasing, so
    an If-Modified-Since can never match content it has not seen."""

    __tablename__ = "feed_state"
    feed: Mapped[str] = mapped_column(String(250), primary_key=True)
    etag: Mapped[str] = mapped_column(String(80))
    last_modified: Mapped[datetime]


class Reminder(Base):
    """One planned reminder to one person: derived from the data by `reminders.sync_plan`, never typed in.
    `key` names what it is and when it fires, so a re-plan keeps what is unchanged and replaces what moved."""

    __tablename__ = "reminders"
    tracks_data_version = False
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    fire_at: Mapped[datetime] = mapped_column(index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    person: Mapped[Person] = relationship()
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    item: Mapped[Item | None] = relationship()
    meeting_uid: Mapped[str | None] = mapped_column(String(300))
    occurrence: Mapped[str | None] = mapped_column(String(40))
    escalation: Mapped[bool] = mapped_column(default=False)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="planned", index=True)


class Delivery(Base):
    """The ledger: the truth of what was sent. One row per reminder x recipient x channel, claimed before
    sending (so two senders cannot both take it) and marked sent after."""

    __tablename__ = "deliveries"
    tracks_data_version = False
    __table_args__ = (UniqueConstraint("reminder_id", "recipient", "channel"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    reminder: Mapped[Reminder] = relationship()
    recipient: Mapped[str] = mapped_column(String(254))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Worker(Base):
    """A running sender (`remind run`, `send-due`, `serve --with-reminders`) and its lease: renewed while it
    lives, so that the rows it claimed are taken over by any sender on any host once the lease has run out."""

    __tablename__ = "workers"
    tracks_data_version = False
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # delivery.worker_id(): host:pid:random
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    lease_until: Mapped[datetime] = mapped_column(index=True)


class Snooze(Base):
    """ "Remind me later" for one item and one person: their reminders for it wait until `until`."""

    __tablename__ = "snoozes"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    until: Mapped[datetime]
