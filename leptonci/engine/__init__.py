"""Landing (plan on the remote tip, apply, retry, recover) and settling (verify, record, roll back)."""
