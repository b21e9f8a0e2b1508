"""asset-transfer-basic: the contract every Fabric user knows (fabric-samples), in Python.

Functions and JSON as in the sample: InitLedger, CreateAsset(id, color, size, owner, value),
ReadAsset(id), UpdateAsset(...), DeleteAsset(id), AssetExists(id), TransferAsset(id, owner)
-> the old owner, GetAllAssets(). Assets are JSON with keys in alphabetical order, like the
Go sample's struct, so both languages return the same bytes. CreateAsset also emits a
"CreateAsset" chaincode event carrying the asset, for event listeners.
"""

import json

from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_chaincode_python.fabric_shim.response import error, success

INITIAL = [
    ("asset1", "blue", 5, "Tomoko", 300),
    ("asset2", "red", 5, "Brad", 400),
    ("asset3", "green", 10, "Jin Soo", 500),
    ("asset4", "yellow", 10, "Max", 600),
    ("asset5", "black", 15, "Adriana", 700),
    ("asset6", "white", 15, "Michel", 800),
]


class ContractError(Exception):
    """A failed precondition: becomes the transaction's error message."""


def _asset(asset_id: str, color: str, size: str | int, owner: str, value: str | int) -> dict:
    try:
        return {"AppraisedValue": int(value), "Color": color, "ID": asset_id, "Owner": owner, "Size": int(size)}
    except ValueError:
        raise ContractError("size and appraisedValue must be integers") from None


def _encode(asset: dict) -> bytes:
    return json.dumps(asset, sort_keys=True, separators=(",", ":")).encode()


def _need(args: list[str], count: int, names: str) -> None:
    if len(args) != count:
        raise ContractError(f"incorrect number of arguments: expecting {count} ({names}), got {len(args)}")


async def _read(stub, asset_id: str) -> bytes:
    raw = await stub.get_state(asset_id)
    if not raw:
        raise ContractError(f"the asset {asset_id} does not exist")
    return bytes(raw)


async def init_ledger(stub, args):
    for row in INITIAL:
        await stub.put_state(row[0], _encode(_asset(*row)))
    return b""


async def create_asset(stub, args):
    _need(args, 5, "id, color, size, owner, appraisedValue")
    if await stub.get_state(args[0]):
        raise ContractError(f"the asset {args[0]} already exists")
    asset = _encode(_asset(*args))
    await stub.put_state(args[0], asset)
    stub.set_event("CreateAsset", asset)  # as fabric-samples' asset-transfer-events does
    return b""


async def read_asset(stub, args):
    _need(args, 1, "id")
    return await _read(stub, args[0])


async def update_asset(stub, args):
    _need(args, 5, "id, color, size, owner, appraisedValue")
    await _read(stub, args[0])
    await stub.put_state(args[0], _encode(_asset(*args)))
    return b""


async def delete_asset(stub, args):
    _need(args, 1, "id")
    await _read(stub, args[0])
    await stub.delete_state(args[0])
    return b""


async def asset_exists(stub, args):
    _need(args, 1, "id")
    return b"true" if await stub.get_state(args[0]) else b"false"


async def transfer_asset(stub, args):
    _need(args, 2, "id, newOwner")
    asset = json.loads(await _read(stub, args[0]))
    old = asset["Owner"]
    asset["Owner"] = args[1]
    await stub.put_state(args[0], _encode(asset))
    return old.encode()


async def get_all_assets(stub, args):
    assets = []
    async with await stub.get_state_by_range("", "") as results:
        async for kv in results:
            assets.append(json.loads(kv.value))
    return json.dumps(assets, sort_keys=True, separators=(",", ":")).encode()


FUNCTIONS = {
    "InitLedger": init_ledger,
    "CreateAsset": create_asset,
    "ReadAsset": read_asset,
    "UpdateAsset": update_asset,
    "DeleteAsset": delete_asset,
    "AssetExists": asset_exists,
    "TransferAsset": transfer_asset,
    "GetAllAssets": get_all_assets,
}


class AssetTransferBasic(Chaincode):
    @staticmethod
    async def init(stub):
        return success(b"")

    @staticmethod
    async def invoke(stub):
        function, args = stub.get_function_and_parameters()
        handler = FUNCTIONS.get(function)
        if handler is None:
            return error(f"unknown function {function!r}; known: {', '.join(FUNCTIONS)}")
        try:
            return success(await handler(stub, args))
        except ContractError as exc:
            return error(str(exc))


CHAINCODE = AssetTransferBasic
