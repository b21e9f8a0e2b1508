"""Run a Python chaincode directory as a chaincode server: `python -m fabkube.chaincode.serve DIR ...`.

Kept for the command line fabkube has always used; the server is fabkube.chaincode.runtime.
"""

from fabkube.chaincode.runtime.__main__ import main

if __name__ == "__main__":
    main()
