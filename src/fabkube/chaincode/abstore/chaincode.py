"""abstore: the seed's chaincode_example02 (fabric-samples abstore) in Python.

Init(a, Aval, b, Bval) sets two accounts; invoke `move A B X` moves X from A to B;
`query A` returns A's value; `delete A` removes A. Values are decimal strings on the ledger.
"""

from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_chaincode_python.fabric_shim.response import error, success


def _amount(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expecting an integer value for {what}, got {text!r}") from None


class ABStore(Chaincode):
    @staticmethod
    async def init(stub):
        _, args = stub.get_function_and_parameters()
        return await ABStore._init(stub, args)

    @staticmethod
    async def _init(stub, args):
        if len(args) != 4:
            return error("Incorrect number of arguments. Expecting 4: A, Aval, B, Bval")
        try:
            aval, bval = _amount(args[1], args[0]), _amount(args[3], args[2])
        except ValueError as exc:
            return error(str(exc))
        await stub.put_state(args[0], str(aval))
        await stub.put_state(args[2], str(bval))
        return success(b"")

    @staticmethod
    async def invoke(stub):
        function, args = stub.get_function_and_parameters()
        if function in ("Init", "init"):
            return await ABStore._init(stub, args)
        if function in ("move", "invoke", "Invoke"):
            return await ABStore._move(stub, args)
        if function in ("query", "Query"):
            return await ABStore._query(stub, args)
        if function in ("delete", "Delete"):
            return await ABStore._delete(stub, args)
        return error(f"Unknown function {function!r}: expecting move, query or delete")

    @staticmethod
    async def _move(stub, args):
        if len(args) != 3:
            return error("Incorrect number of arguments. Expecting 3: A, B, X")
        a, b = args[0], args[1]
        try:
            x = _amount(args[2], "X")
        except ValueError as exc:
            return error(str(exc))
        raw_a, raw_b = await stub.get_state(a), await stub.get_state(b)
        if not raw_a:
            return error(f"Entity not found: {a}")
        if not raw_b:
            return error(f"Entity not found: {b}")
        aval, bval = int(raw_a) - x, int(raw_b) + x
        if aval < 0:
            return error(f"Insufficient funds: {a} has {int(raw_a)}, cannot move {x}")
        await stub.put_state(a, str(aval))
        await stub.put_state(b, str(bval))
        return success(b"")

    @staticmethod
    async def _query(stub, args):
        if len(args) != 1:
            return error("Incorrect number of arguments. Expecting the name of the entity to query")
        raw = await stub.get_state(args[0])
        if not raw:
            return error(f"Nil amount for {args[0]}")
        return success(bytes(raw))

    @staticmethod
    async def _delete(stub, args):
        if len(args) != 1:
            return error("Incorrect number of arguments. Expecting 1")
        await stub.delete_state(args[0])
        return success(b"")


CHAINCODE = ABStore
