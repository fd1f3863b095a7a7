"""LGPD: opt-outs recorded by operators, the suppression list, data-subject export and
erasure (with their audit), and where a contact came from."""
