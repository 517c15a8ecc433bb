"""What a failed trial means: a bug of ours is an error raised in any of tuner's folders."""

from __future__ import annotations

import pytest

from tuner.errors import TunerError
from tuner.tracking.failures import is_our_bug
from tuner.views.numbers import finite_or_none


def _raised(call) -> BaseException:
    with pytest.raises(BaseException) as caught:
        call()
    return caught.value


def test_an_error_raised_in_any_folder_of_tuner_is_ours():
    assert is_our_bug(_raised(lambda: finite_or_none("not a number")))  # tuner/views/numbers.py


def test_an_error_raised_outside_tuner_or_on_purpose_is_not():
    assert not is_our_bug(_raised(lambda: int("x")))  # Python's own, as Keras' or scikit-learn's would be
    assert not is_our_bug(_raised(lambda: (_ for _ in ()).throw(TunerError("a user's mistake"))))
