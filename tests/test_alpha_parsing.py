import pytest

from qunlearn.parsing import parse_alphas
from qunlearn.errors import InputError


def test_range_includes_stop():
    assert parse_alphas("0:0.9:0.1") == tuple(round(0.1 * i, 10) for i in range(10))


def test_list_and_single():
    assert parse_alphas("0,0.3,0.5") == (0.0, 0.3, 0.5)
    assert parse_alphas("0.25") == (0.25,)


@pytest.mark.parametrize("text", ["", "1", "0:1:0.5", "0:0.9", "a:b:c", "0,,0.3", "0:0.5:-0.1", "inf"])
def test_refused(text):
    with pytest.raises(InputError):
        parse_alphas(text)
