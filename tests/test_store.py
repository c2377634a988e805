"""The session store's promises, on a real SQLite file (and on a real PostgreSQL when present)."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, select, text

from pg import pg_server, pg_url  # noqa: F401  (shared PostgreSQL fixtures)

from coach.errors import CoachError, InputError
from coach.safety.types import Screening
from coach.store import SessionNotFound, SessionStore, StoreError
from coach.store.migrations import MIGRATIONS, MIGRATIONS_TABLE, TABLES, migrate


@pytest.fixture(autouse=True)
def coach_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("COACH_HOME", str(home))
    monkeypatch.delenv("COACH_DB_URL", raising=False)
    return home


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def db_url(request, coach_home):
    """The URL under test: the default SQLite file, or a PostgreSQL database."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{coach_home / 'coach.db'}"


@pytest.fixture
def store(db_url):
    s = SessionStore(db_url)
    yield s
    s.close()


def _talk(store, session_id, n=2):
    for i in range(n):
        store.add_user_turn(session_id, f"message {i}", stage="understand")
        store.add_assistant_turn(session_id, f"reply {i}", stage="understand",
                                 sources=[{"title": f"card {i}"}], backend="fake")


# -- behaviour on every database -----------------------------------------------------------

def test_a_session_resumes_with_every_turn_after_reopening(db_url):
    with SessionStore(db_url) as first:
        s = first.create_session(title="Phone worries", role="hurt_partner", region="uk",
                                 history_opt_in=True, backend="local")
        first.add_user_turn(s.id, "He deleted our chat history.", stage="understand",
                            safety=Screening())
        first.add_assistant_turn(s.id, "It sounds like that left you uneasy.",
                                 stage="understand", sources=[{"title": "Secrecy", "id": "c1"}],
                                 safety={"ok": True}, backend="local")
        first.add_user_turn(s.id, "Yes, very.", stage="explore")
    with SessionStore(db_url) as again:
        session = again.get_session(s.id)
        turns = again.turns(s.id)
    assert (session.title, session.role, session.region, session.history_opt_in) == (
        "Phone worries", "hurt_partner", "uk", True)
    assert [(t.idx, t.role, t.text) for t in turns] == [
        (0, "user", "He deleted our chat history."),
        (1, "assistant", "It sounds like that left you uneasy."),
        (2, "user", "Yes, very."),
    ]
    assert turns[0].safety == {"category": "none", "level": "none", "reasons": []}
    assert turns[1].sources == [{"title": "Secrecy", "id": "c1"}]
    # Answered messages are done; the last one is still waiting for a reply.
    assert [t.status for t in turns] == ["done", "done", "pending"]
    assert session.created_at.tzinfo is not None


def test_a_failed_reply_is_marked_and_the_message_kept(store):
    s = store.create_session()
    t = store.add_user_turn(s.id, "Can you help?")
    store.set_turn_status(s.id, t.idx, "failed")
    assert [(x.text, x.status) for x in store.turns(s.id)] == [("Can you help?", "failed")]
    with pytest.raises(InputError):
        store.set_turn_status(s.id, 7, "done")


def test_unknown_session_ids_give_one_plain_line(store):
    for call in (
        lambda: store.get_session("nope"),
        lambda: store.turns("nope"),
        lambda: store.add_user_turn("nope", "hello"),
        lambda: store.add_assistant_turn("nope", "hello"),
        lambda: store.set_plan("nope", ["x"]),
        lambda: store.add_checkin("nope", 5),
        lambda: store.export("nope"),
        lambda: store.delete_session("nope"),
        lambda: store.update_session("nope", title="x"),
    ):
        with pytest.raises(SessionNotFound) as info:
            call()
        assert isinstance(info.value, CoachError)
        message = str(info.value)
        assert "\n" not in message and "nope" in message


def test_list_shows_recent_sessions_first_with_turn_counts(store):
    older = store.create_session(title="older")
    newer = store.create_session(title="newer")
    _talk(store, newer.id, 1)
    _talk(store, older.id, 2)  # now the most recently active
    listed = store.list_sessions()
    assert [(i.title, i.turns) for i in listed] == [("older", 4), ("newer", 2)]
    assert len(store.list_sessions(limit=1)) == 1


def test_update_session_changes_only_what_is_given(store):
    s = store.create_session(title="a", role="own_insecurity")
    updated = store.update_session(s.id, stage="plan", history_opt_in=True)
    assert (updated.title, updated.role, updated.stage, updated.history_opt_in) == (
        "a", "own_insecurity", "plan", True)
    assert updated.updated_at >= s.updated_at
    with pytest.raises(ValueError):
        store.update_session(s.id, role="villain")
    with pytest.raises(ValueError):
        store.create_session(colour="blue")
    assert store.get_session(s.id).role == "own_insecurity"


def test_checkins_are_validated_and_charted_across_sessions(store):
    a = store.create_session()
    b = store.create_session()
    for bad in (-1, 11, 3.5, True, "5", None):
        with pytest.raises(InputError):
            store.add_checkin(a.id, bad)
    store.add_checkin(a.id, 3)
    store.add_checkin(b.id, 0)
    store.add_checkin(a.id, 10)
    assert [c.rating for c in store.checkins()] == [3, 0, 10]
    assert [c.rating for c in store.checkins(limit=2)] == [0, 10]
    assert [c.rating for c in store.checkins(session_id=a.id)] == [3, 10]


def test_latest_summary_only_comes_from_sessions_that_opted_in(store):
    assert store.latest_summary() is None
    kept = store.create_session(history_opt_in=True)
    private = store.create_session(history_opt_in=False)
    store.save_summary(kept.id, "Talked about the late nights.")
    store.save_summary(private.id, "This one must never be recalled.")
    assert store.latest_summary() == "Talked about the late nights."
    store.update_session(kept.id, history_opt_in=False)
    assert store.latest_summary() is None


def test_a_plan_is_replaced_not_appended(store):
    s = store.create_session()
    assert store.get_plan(s.id) is None
    store.set_plan(s.id, ["Talk on Sunday"])
    store.set_plan(s.id, ["Talk on Sunday", {"text": "Write a letter"}], agreed=True)
    plan = store.get_plan(s.id)
    assert plan.items == ["Talk on Sunday", {"text": "Write a letter"}] and plan.agreed


def test_odd_text_is_kept_and_never_crashes(store, db_url):
    s = store.create_session(title="tab\tand\nnewline")
    odd = ["", "a\x00b", "emoji 💔🙂", "עברית and English", "z\u0301algo", "x" * 1_000_000]
    for value in odd:
        store.add_user_turn(s.id, value)
    store.add_user_turn(s.id, "lone \ud800 surrogate")
    texts = [t.text for t in store.turns(s.id)]
    if db_url.startswith("sqlite"):
        assert texts[:6] == odd
    else:  # PostgreSQL cannot hold NUL in text
        assert texts[1] == "a\ufffdb" and texts[2:6] == odd[2:]
    assert texts[6].startswith("lone ") and "\ufffd" in texts[6]
    store.export(s.id, "md")
    json.loads(store.export(s.id, "json"))
    with pytest.raises(InputError):
        store.add_user_turn(s.id, None)


def test_exports_hold_the_transcript_plan_and_sources(store):
    s = store.create_session(title="Rebuilding after the affair")
    store.add_user_turn(s.id, "I found messages.\nI can't stop thinking about it.")
    store.add_assistant_turn(s.id, "That sounds painful.", stage="understand",
                             sources=[{"title": "After discovery", "source": "seed-2.txt"}])
    store.set_plan(s.id, ["Ask for one honest conversation"], agreed=True)
    store.add_checkin(s.id, 4)

    md = store.export(s.id, "md")
    assert "Rebuilding after the affair" in md
    assert "> I found messages.\n> I can't stop thinking about it." in md
    assert "That sounds painful." in md
    assert "After discovery - seed-2.txt" in md
    assert "- [ ] Ask for one honest conversation" in md and "Plan (agreed)" in md
    assert "4/10" in md and "not therapy" in md

    doc = json.loads(store.export(s.id, "json"))
    assert doc["session"]["id"] == s.id
    assert [t["text"] for t in doc["turns"]] == [
        "I found messages.\nI can't stop thinking about it.", "That sounds painful."]
    assert doc["turns"][1]["sources"] == [{"title": "After discovery", "source": "seed-2.txt"}]
    assert doc["plan"]["items"] == ["Ask for one honest conversation"]
    assert doc["checkins"][0]["rating"] == 4

    with pytest.raises(InputError):
        store.export(s.id, "pdf")


def test_delete_leaves_no_trace_of_the_session_anywhere(store):
    gone = store.create_session(title="to delete", history_opt_in=True)
    kept = store.create_session(title="to keep", history_opt_in=True)
    for s in (gone, kept):
        _talk(store, s.id, 2)
        store.set_plan(s.id, ["step"], agreed=True)
        store.record_safety_event(s.id, "screening", category="abuse", level="concern",
                                  detail={"reasons": ["x"]}, turn_idx=0)
        store.record_safety_event(s.id, "output_rail", detail=None)
        store.add_checkin(s.id, 5)
        store.save_summary(s.id, f"summary of {s.title}")

    store.delete_session(gone.id)

    with pytest.raises(SessionNotFound):
        store.get_session(gone.id)
    hits = {}
    insp = inspect(store.engine)
    with store.engine.connect() as conn:
        for table in insp.get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if gone.id in str(value):
                        hits.setdefault(table, 0)
                        hits[table] += 1
                    assert "to delete" not in str(value)
    assert hits == {}
    assert store.latest_summary() == "summary of to keep"
    assert len(store.turns(kept.id)) == 4 and store.get_plan(kept.id) is not None
    assert store.integrity_check()


def test_session_ids_cannot_be_guessed(store):
    ids = [store.create_session().id for _ in range(200)]
    assert len(set(ids)) == 200
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert all(len(i) >= 16 and set(i) <= allowed for i in ids)
    # Random, not a counter: ids made one after another share no long prefix.
    assert len({i[:6] for i in ids}) == 200


def test_many_threads_can_write_at_once(store):
    shared = store.create_session(title="shared")
    errors = []

    def worker(n):
        try:
            own = store.create_session(title=f"worker {n}")
            for i in range(10):
                store.add_user_turn(shared.id, f"w{n} m{i}")
                store.add_assistant_turn(own.id, f"w{n} r{i}")
                store.list_sessions()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    turns = store.turns(shared.id)
    assert [t.idx for t in turns] == list(range(60))
    assert sorted(t.text for t in turns) == sorted(f"w{n} m{i}" for n in range(6)
                                                   for i in range(10))
    assert store.integrity_check()


def test_migrations_apply_once_and_match_the_schema(db_url):
    with SessionStore(db_url) as first:
        engine = first.engine
        with engine.connect() as conn:
            names = [r.name for r in conn.execute(select(MIGRATIONS_TABLE.c.name))]
        assert names == [name for name, _ in MIGRATIONS]
        assert migrate(engine) == []  # idempotent
        insp = inspect(engine)
        for name, table in TABLES.items():
            assert {c["name"] for c in insp.get_columns(name)} == set(table.c.keys()), name
    with SessionStore(db_url) as again:
        with again.engine.connect() as conn:
            count = conn.execute(select(MIGRATIONS_TABLE.c.name)).all()
        assert len(count) == len(MIGRATIONS)


def test_a_database_from_a_newer_version_is_refused_plainly(db_url):
    with SessionStore(db_url) as first:
        with first.engine.begin() as conn:
            conn.execute(MIGRATIONS_TABLE.insert().values(
                name="9999_from_the_future", applied_at=datetime.now(timezone.utc)))
    with pytest.raises(StoreError, match="newer version"):
        SessionStore(db_url)


def test_reading_while_the_server_writes_does_not_wait(coach_home, monkeypatch):
    """`coach sessions list/export` beside a busy server: opening the store takes no write lock."""
    import coach.store.db as db

    url = f"sqlite:///{coach_home / 'coach.db'}"
    with SessionStore(url) as server:
        s = server.create_session(title="kept")
        server.add_user_turn(s.id, "words the server wrote")
        monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)
        with db.write_tx(server.engine) as busy:  # the server, mid-write
            busy.execute(text("SELECT 1"))
            with SessionStore(url) as reader:
                assert "words the server wrote" in reader.export(s.id)


# -- SQLite specifics -----------------------------------------------------------------------

def test_the_default_database_is_private_and_durable(coach_home):
    coach_home.mkdir(mode=0o755)
    os.chmod(coach_home, 0o755)
    store = SessionStore()
    s = store.create_session()
    store.add_user_turn(s.id, "private words")
    with store.engine.connect() as conn:
        # Still open: the WAL and shared-memory files exist and must be private too.
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                   for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in coach_home.iterdir()}
    store.close()
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                       "busy_timeout": 10000}
    assert stat.S_IMODE(coach_home.stat().st_mode) == 0o700
    assert files["coach.db"] == 0o600
    assert files.get("coach.db-wal", 0o600) == 0o600 and "coach.db-wal" in files
    assert all(mode == 0o600 for mode in files.values())


def test_coach_db_url_points_the_store_elsewhere(coach_home, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "sessions.sqlite"
    monkeypatch.setenv("COACH_DB_URL", f"sqlite:///{other}")
    with SessionStore() as store:
        store.create_session(title="over there")
    assert other.exists() and not (coach_home / "coach.db").exists()
    with SessionStore(f"sqlite:///{other}") as store:
        assert [i.title for i in store.list_sessions()] == ["over there"]


def test_bad_database_settings_give_one_plain_line(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_DB_URL", "not a url at all")
    with pytest.raises(StoreError) as info:
        SessionStore()
    assert "\n" not in str(info.value)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database file" * 200)
    with pytest.raises(StoreError) as info:
        SessionStore(f"sqlite:///{junk}")
    assert "\n" not in str(info.value)
    assert junk.read_bytes().startswith(b"this is not a database file")  # left untouched


def test_integrity_check_notices_a_damaged_file(coach_home):
    with SessionStore() as store:
        s = store.create_session()
        for i in range(300):
            store.add_user_turn(s.id, f"filler {i} " * 40)
        assert store.integrity_check()
    path = coach_home / "coach.db"
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 2, len(data) - page, page * 3):
        data[offset + 100: offset + 400] = os.urandom(300)  # scribble over b-tree pages
    path.write_bytes(bytes(data))
    try:
        with SessionStore() as store:
            assert store.integrity_check() is False
    except StoreError:
        pass  # also acceptable: the damage is reported in one plain line on opening


def test_session_owners_live_in_the_database_and_go_with_the_session(tmp_path):
    from coach.store import SessionStore

    store = SessionStore(f"sqlite:///{tmp_path / 'o.db'}")
    a = store.create_session(title="a")
    b = store.create_session(title="b")
    store.set_owner(a.id, "ann")
    store.set_owner(b.id, "bob")
    other_process = SessionStore(f"sqlite:///{tmp_path / 'o.db'}")  # e.g. a second app server
    assert other_process.get_owner(a.id) == "ann"
    assert other_process.sessions_owned_by("bob") == {b.id}
    store.delete_session(a.id)
    assert other_process.get_owner(a.id) is None
    assert other_process.sessions_owned_by("ann") == set()


def test_feedback_is_kept_per_reply_exported_and_deleted_with_the_session(tmp_path):
    import json as _json

    from coach.errors import InputError
    from coach.store import SessionStore

    store = SessionStore(f"sqlite:///{tmp_path / 'f.db'}")
    s = store.create_session(title="t")
    store.add_assistant_turn(s.id, "Welcome")
    store.add_user_turn(s.id, "hello")
    reply = store.add_assistant_turn(s.id, "That sounds hard.", backend="local")
    store.set_feedback(s.id, reply.idx, "Dislike")
    store.set_feedback(s.id, reply.idx, "Didn't answer my question")  # the latest wins
    assert store.feedback(s.id) == {reply.idx: "Didn't answer my question"}
    with pytest.raises(InputError):
        store.set_feedback(s.id, 1, "Like")  # the person's own message
    doc = _json.loads(store.export(s.id, "json"))
    assert doc["turns"][reply.idx]["feedback"] == "Didn't answer my question"
    assert "Your feedback: Didn't answer my question" in store.export(s.id, "md")
    assert store.feedback_summary()[0]["backend"] == "local"
    store.delete_session(s.id)
    assert store.feedback_summary() == []
    store.close()


def test_a_feedback_comment_is_kept_in_their_words_exported_and_deleted(store):
    import json as _json

    from coach.errors import InputError

    s = store.create_session(title="t")
    store.add_assistant_turn(s.id, "Welcome")
    store.add_user_turn(s.id, "hello")
    reply = store.add_assistant_turn(s.id, "That sounds hard.", backend="local")
    other = store.add_assistant_turn(s.id, "Another reply.", backend="local")
    store.set_feedback(s.id, reply.idx, "Dislike")
    store.set_feedback_comment(s.id, reply.idx, "It  didn't answer\nwhat I asked")
    store.set_feedback(s.id, reply.idx, "Felt robotic or repetitive")  # the words stay
    store.set_feedback_comment(s.id, other.idx, "Helpful, thanks")  # words alone
    with pytest.raises(InputError):
        store.set_feedback_comment(s.id, reply.idx, "   ")
    with pytest.raises(InputError):
        store.set_feedback_comment(s.id, 1, "on my own message")
    doc = _json.loads(store.export(s.id, "json"))
    assert doc["turns"][reply.idx]["feedback"] == "Felt robotic or repetitive"
    assert doc["turns"][reply.idx]["feedback_comment"] == "It didn't answer what I asked"
    assert doc["turns"][other.idx]["feedback"] == "Comment"
    md = store.export(s.id, "md")
    assert "Your feedback: Felt robotic or repetitive_ · It didn't answer" in md
    summary = store.feedback_summary()
    assert sorted(r["commented"] for r in summary) == [True, True]
    assert all("text" not in r and "comment" not in r for r in summary)  # counts only
    store.delete_session(s.id)
    assert store.feedback_summary() == []
