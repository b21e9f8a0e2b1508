"""Bad input that used to cost time or crash later is refused at validation, naming the field:
a YAML alias bomb, derived Kubernetes names and certificate names over their limits, and a
version that cannot be an image tag."""

import time

import pytest
from conftest import EXAMPLES

from fabkube.errors import UserError
from fabkube.spec import load_spec, parse_spec

SEED = (EXAMPLES / "seed.yaml").read_text()

BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_is_refused_quickly():
    start = time.monotonic()
    with pytest.raises(UserError, match=r"more than 50 YAML aliases \(\*name\), the last at line \d+"):
        parse_spec(BOMB)
    assert time.monotonic() - start < 1.0  # it took 19 s and 2.2 GB before the check
    # A few aliases are fine, as YAML users write them.
    aliased = SEED.replace("{name: Org1,", "{name: &o Org1,").replace("organizations: [Org1]", "organizations: [*o]")
    assert parse_spec(aliased).spec.channels[0].organizations == ["Org1"]


def test_long_names_are_refused_naming_the_field():
    long_name = "n" * 60
    with pytest.raises(UserError, match=r"name \(line \d+\): makes the namespace 'n{60}-ordererorg' 71 characters"):
        parse_spec(SEED.replace("name: seed", f"name: {long_name}"))
    prefixed = SEED.replace("name: seed", f"name: {long_name}").replace(
        "kubernetes:", "kubernetes:\n  namespacePrefix: s"
    )
    assert parse_spec(prefixed)
    cc = "c" * 40
    with pytest.raises(UserError, match=r"chaincodes\[0\].name.*makes the certificate name 'peers\.c{40}\.chaincode"):
        parse_spec(SEED.replace("name: mycc", f"name: {cc}"))


def test_version_must_make_an_image_tag_unless_an_image_is_given():
    plus = SEED.replace('init: [a, "100", b, "200"]', 'version: "1.0+x", init: [a, "100", b, "200"]')
    with pytest.raises(UserError, match=r"chaincodes\[0\].version.*'1.0\+x' is the default image's tag"):
        parse_spec(plus)
    assert parse_spec(plus.replace('version: "1.0+x"', 'image: my/cc:1, version: "1.0+x"'))


def test_a_spec_over_a_mebibyte_is_refused_before_parsing(tmp_path):
    big = SEED + "# " + "x" * (1 << 20) + "\n"
    start = time.monotonic()
    with pytest.raises(UserError, match=r"characters; a spec may have at most 1048576 \(1 MiB\)"):
        parse_spec(big)
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(UserError, match=r"big.yaml: \d+ bytes; a spec may have at most 1048576"):
        load_spec(path)
    assert time.monotonic() - start < 1.0


def test_operations_from_names_namespaces():
    spec = SEED.replace("kubernetes:", "kubernetes:\n  operationsFrom: [monitoring, Bad_NS]")
    with pytest.raises(UserError, match=r"kubernetes.operationsFrom\[1\].*'Bad_NS' is not a DNS-1123 label"):
        parse_spec(spec)
