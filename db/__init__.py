"""The referral service over PostgreSQL, one module per area, each with its statements beside
its methods:

- members.py: verification codes (issued, delivered, checked) and members (lookups, batched for
  logins; profile, Telegram link, language);
- invitations.py: the invitation rule (the database function `activate_invite`), what it would
  do for a code, and the pages of a member's referrals;
- privacy.py: a member's data download and erasure;
- operators.py, growth.py, events.py, broadcasts.py, addresses.py: operators' figures, lookup,
  blocking and export; the leaderboard and milestones; the outbox of events; broadcasts; the
  API's limit per client address;
- service.py: `ReferralService`, the areas as attributes (`service.members`, ...), and
  `create_service`;
- connections.py (the pool, outages, retries), schema.py (migrations), tables.py (the tables,
  named `...Row`), results.py (the typed answers, in the domain's names), codes.py and phones.py
  (the rules of codes and phones, and how a phone is shown).

Who commits: the areas' methods, and nothing else. Each statement commits on its own and is
written to leave the data true whatever runs beside it (one statement, or one call of a database
function such as `activate_invite`); where statements must commit together, the method opens the
transaction itself, on its connection from connections.py, and ends it before it returns. No
transaction spans two calls, and nothing in the program outside db/ holds a connection or a
transaction: the front ends (bot/, api/) and the jobs (jobs/) call the areas and translate their
typed results.

Statements go to asyncpg directly, as prepared statements that each pooled connection keeps:
this is the hot path of every update, and SQLAlchemy's execution layer cost several times the
driver's own time (see README). SQLAlchemy holds the schema (tables.py) that alembic migrates.
"""
