"""Store (schema): Alembic migrations; `Store.upgrade()` and `frontrow db upgrade` run them."""
