"""The judgement of what a digest carries: one table, one message per way to be wrong."""

from __future__ import annotations

import pytest

from leptonci.core.attestation import (
    SLSA_PREDICATE,
    VERDICT_PREDICATE,
    Evidence,
    Found,
    Keyless,
    Trust,
    judge,
    planned_found,
    statement,
)
from leptonci.core.signing import generate_signing_key
from tests.fixtures.attest import PROVENANCE, signed_bundle, tampered, verdict_predicate

KEY, OTHER = generate_signing_key(), generate_signing_key()
DIGEST = "sha256:" + "a" * 64
ELSEWHERE = "sha256:" + "b" * 64
RELEASE = "digits-abababababab"
TRUST = Trust(kinds=("verdict", "provenance"), keys=(KEY.public,))


def _found(predicate_type: str = VERDICT_PREDICATE, *, key=KEY, digest=DIGEST, **kw) -> Found:  # type: ignore[no-untyped-def]
    predicate = (
        verdict_predicate(release=RELEASE, **kw)
        if predicate_type == VERDICT_PREDICATE
        else PROVENANCE
    )
    bundle = signed_bundle(
        key, name="img", digest=digest, predicate_type=predicate_type, predicate=predicate
    )
    return Found(predicate_type, bundle)


def _both(verdict: Found) -> Evidence:
    return Evidence(DIGEST, (verdict, _found(SLSA_PREDICATE)))


def _bump(stmt: dict) -> None:  # type: ignore[type-arg]
    stmt["predicate"]["verdict"]["passed"] = True
    stmt["predicate"]["metrics"]["accuracy"] = 1.0


CASES = {
    "honest": (_both(_found()), ""),
    "missing": (
        Evidence(DIGEST, (_found(SLSA_PREDICATE),)),
        "sha256:aaaaaaaaaaaa has no verdict attestation",
    ),
    "tampered": (
        _both(Found(VERDICT_PREDICATE, tampered(_found().bundle, _bump))),
        "its signature does not match its content",
    ),
    "wrong key": (
        _both(_found(key=OTHER)),
        f"signed by key {OTHER.public.keyid[:19]}, not a trusted key",
    ),
    "another digest": (
        _both(_found(digest=ELSEWHERE)),
        "made for sha256:bbbbbbbbbbbb, not sha256:aaaaaaaaaaaa",
    ),
    "failed": (_both(_found(passed=False)), "the verdict did not pass (failed: accuracy)"),
    "other model": (_both(_found(model="other")), "made for model other, not digits"),
    "unreadable": (_both(Found(VERDICT_PREDICATE, b"{")), "unreadable bundle"),
    "read error": (
        Evidence(DIGEST, error="registry down"),
        "attestations could not be read: registry down",
    ),
    "keyless, keys trusted": (
        _both(Found(VERDICT_PREDICATE, _found().bundle, Keyless("id", "iss"))),
        "signed keyless, but the environment trusts keys only",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_judge(case: str) -> None:
    evidence, problem = CASES[case]
    judgement = judge(evidence, trust=TRUST, model="digits", release=RELEASE)
    assert judgement.ok is (problem == "")
    assert problem in judgement.problem
    assert "\n" not in judgement.problem


def test_one_good_attestation_among_bad_ones_is_enough() -> None:
    evidence = Evidence(DIGEST, (_found(key=OTHER), _found(), _found(SLSA_PREDICATE)))
    assert judge(evidence, trust=TRUST).ok


def test_keyless_identity_must_match() -> None:
    trust = Trust(
        kinds=("verdict",),
        identity="https://github.com/o/r/.github/workflows/r.yml@refs/heads/main",
    )
    good = Found(VERDICT_PREDICATE, _found().bundle, Keyless(trust.identity or "", trust.issuer))
    assert judge(Evidence(DIGEST, (good,)), trust=trust).ok
    bad = Found(VERDICT_PREDICATE, _found().bundle, Keyless("https://github.com/x/y", trust.issuer))
    assert "not the trusted" in judge(Evidence(DIGEST, (bad,)), trust=trust).problem
    broken = Found(VERDICT_PREDICATE, _found().bundle, Keyless("", "", "chain"))
    assert (
        "keyless signature does not verify: chain"
        in judge(Evidence(DIGEST, (broken,)), trust=trust).problem
    )


def test_a_dry_run_judges_the_planned_statement_and_its_signer() -> None:
    stmt = statement(
        name="img",
        digest=DIGEST,
        predicate_type=VERDICT_PREDICATE,
        predicate=verdict_predicate(release=RELEASE),
    )
    prov = statement(name="img", digest=DIGEST, predicate_type=SLSA_PREDICATE, predicate=PROVENANCE)
    planned = Evidence(
        DIGEST,
        (
            planned_found(VERDICT_PREDICATE, stmt, signer=KEY.public.keyid),
            planned_found(SLSA_PREDICATE, prov, signer=KEY.public.keyid),
        ),
        planned=True,
    )
    assert judge(planned, trust=TRUST).ok
    by_other = Evidence(
        DIGEST, (planned_found(VERDICT_PREDICATE, stmt, signer=OTHER.public.keyid),)
    )
    assert "would be signed by key" in judge(by_other, trust=TRUST).problem
