"""The referral service over PostgreSQL: models, engine, rules."""
