"""A user Python chaincode that exercises the stub's capabilities against a real peer: each function
returns JSON the test checks (composite keys, pagination, history, creator, transient, events,
chaincode-to-chaincode calls, private data)."""

import json

from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_chaincode_python.fabric_shim.response import error, success


async def put(stub, args):
    await stub.put_state(args[0], args[1])
    return {}


async def composite_fill(stub, args):
    for color, asset_id in (("red", "1"), ("red", "2"), ("blue", "3")):
        await stub.put_state(stub.create_composite_key("color~id", [color, asset_id]), asset_id)
    return {}


async def composite(stub, args):
    """Queries see committed state only, so this reads what an earlier composite_fill wrote."""
    found = []
    async with await stub.get_state_by_partial_composite_key("color~id", [args[0]]) as results:
        async for kv in results:
            found.append(stub.split_composite_key(kv.key)[1])
    return {"found": found}


async def page(stub, args):
    size, bookmark = int(args[0]), args[1] if len(args) > 1 else ""
    results = await stub.get_state_by_range_with_pagination("page-", "page-~", size, bookmark)
    keys = [kv.key async for kv in results]
    return {"keys": keys, "bookmark": results.metadata.bookmark, "count": results.metadata.fetched_records_count}


async def fill_pages(stub, args):
    for i in range(int(args[0])):
        await stub.put_state(f"page-{i:02d}", str(i))
    return {}


async def history(stub, args):
    values = []
    async with await stub.get_history_for_key(args[0]) as results:
        async for mod in results:
            values.append({"value": mod.value.decode(), "tx": mod.tx_id, "deleted": mod.is_delete})
    return {"history": values}


async def whoami(stub, args):
    ts = stub.get_tx_timestamp()
    return {
        "mspid": stub.get_creator()["mspid"],
        "txid": stub.get_txid(),
        "channel": stub.get_channel_id(),
        "seconds": ts.seconds if ts else 0,
        "transient": {k: v.decode() for k, v in stub.get_transient().items()},
    }


async def ping(stub, args):
    stub.set_event("Pinged", args[0])
    return {"pinged": args[0]}


async def call(stub, args):
    """args: chaincode, function, arguments... on the same channel."""
    response = await stub.invoke_chaincode(args[0], [a.encode() for a in args[1:]], stub.get_channel_id())
    return {"status": response.status, "payload": response.payload.decode(), "message": response.message}


async def private_put(stub, args):
    """args: collection, key; the value comes in the transient map, so it never enters the block."""
    await stub.put_private_data(args[0], args[1], stub.get_transient()["value"])
    return {}


async def private_get(stub, args):
    value = await stub.get_private_data(args[0], args[1])
    digest = await stub.get_private_data_hash(args[0], args[1])
    return {"value": value.decode(), "hash": digest.hex()}


FUNCTIONS = {
    f.__name__: f
    for f in (put, composite_fill, composite, page, fill_pages, history, whoami, ping, call, private_put, private_get)
}


class StubCheck(Chaincode):
    @staticmethod
    async def init(stub):
        return success(b"")

    @staticmethod
    async def invoke(stub):
        function, args = stub.get_function_and_parameters()
        if function not in FUNCTIONS:
            return error(f"unknown function {function}")
        return success(json.dumps(await FUNCTIONS[function](stub, args)).encode())


CHAINCODE = StubCheck
