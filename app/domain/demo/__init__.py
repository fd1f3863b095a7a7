"""A small demo data set for `julia dev` on an empty database."""

from app.domain.demo.seed import seed_if_empty

__all__ = ["seed_if_empty"]
