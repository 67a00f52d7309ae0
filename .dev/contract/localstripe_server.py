"""Starts localstripe (PyPI `localstripe`, a stateful fake Stripe server) for the contract
tests, as it is, with two changes around it: its state stays in memory (it would write
every change to /tmp/localstripe.pickle, shared by every copy on the machine), and it
exits when its standard input closes, so it never outlives the test process that
started it.  Usage: python localstripe_server.py PORT
"""

import os
import sys
import threading

import localstripe.resources
from localstripe import server


def exit_when_parent_goes():
    sys.stdin.read()
    os._exit(0)


localstripe.resources.Store.dump_to_disk = lambda self: None
threading.Thread(target=exit_when_parent_goes, daemon=True).start()
sys.argv = ["localstripe", "--port", sys.argv[1], "--from-scratch"]
server.start()
