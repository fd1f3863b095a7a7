"""Read models and queries behind the operators' dashboard API."""
