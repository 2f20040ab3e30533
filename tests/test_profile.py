"""Profiles and seeding."""

import numpy as np
import pytest

from mnist_course.course import profile as runtime


def test_env_overrides_default(monkeypatch):
    monkeypatch.delenv(runtime.PROFILE_VAR, raising=False)
    assert runtime.active_profile("full") == "full"
    monkeypatch.setenv(runtime.PROFILE_VAR, "quick")
    assert runtime.active_profile("full") == "quick"


def test_unknown_profile_is_explained(monkeypatch):
    monkeypatch.setenv(runtime.PROFILE_VAR, "fast")
    with pytest.raises(ValueError, match="'fast'.*quick.*full"):
        runtime.active_profile()


def test_seed_everything_repeats_numpy_and_tensorflow():
    import tensorflow as tf

    runtime.seed_everything(3)
    a = np.random.rand(3), tf.random.uniform((3,)).numpy()
    runtime.seed_everything(3)
    b = np.random.rand(3), tf.random.uniform((3,)).numpy()
    runtime.seed_everything(4)
    c = np.random.rand(3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c)


def test_environment_report_has_the_essentials():
    report = runtime.environment_report()
    for key in ("python", "tensorflow", "keras", "cpu threads", "gpu"):
        assert report[key]


def test_quiet_stderr_hides_native_output_only_inside(capfd):
    import os

    with runtime.quiet_stderr():
        os.write(2, b"native chatter\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    with pytest.raises(ZeroDivisionError), runtime.quiet_stderr():
        raise ZeroDivisionError  # errors still propagate, and stderr comes back afterwards
    os.write(2, b"back\n")
    assert capfd.readouterr().err == "back\n"
