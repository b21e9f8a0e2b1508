"""Ctrl-C held while `up` starts a process (so none is orphaned), and SIGINT left ignored where it
is ignored. Run in the main thread (where Python delivers signals), as `up` runs."""

import os
import signal
import threading

import pytest

from fabkube.backends.local.network import interrupts_deferred


def test_a_ctrl_c_in_the_block_is_raised_when_it_ends():
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        reached_the_end = False
        with pytest.raises(KeyboardInterrupt), interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            reached_the_end = True  # held: the block's work is not cut short
        assert reached_the_end
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored():
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        raised = False
        try:
            with interrupts_deferred():
                os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:  # caught here: escaping, it would stop the whole test session
            raised = True
        assert not raised, "a SIGINT the process ignores was raised as Ctrl-C"
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
