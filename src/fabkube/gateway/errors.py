"""Gateway errors, shaped like the official fabric-gateway SDKs' errors.

A failed gateway call is a gRPC status whose details (google.rpc.Status in the trailing
metadata) list one gateway.ErrorDetail per peer or orderer that failed. The top-level
message is generic ("failed to endorse transaction, see attached details for more
info"), so str() of every error here includes the details: that is where the chaincode's
error text or "policy not met" lives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from fabric_protos.gateway import gateway_pb2
from google.protobuf.message import DecodeError

from fabkube.gateway._rpc_status import STATUS_DETAILS_KEY, Status
from fabkube.gateway.status import Status as CommitStatus
from fabkube.gateway.status import validation_code_name

_ERROR_DETAIL_TYPE = gateway_pb2.ErrorDetail.DESCRIPTOR.full_name


@dataclass(frozen=True)
class ErrorDetail:
    """One failing node: its endpoint address, its MSP ID and what it said."""

    address: str
    msp_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.address} ({self.msp_id}): {self.message}"


def parse_status_details(status_bytes: bytes) -> list[ErrorDetail]:
    """The gateway.ErrorDetail entries of a serialized google.rpc.Status; other detail types are skipped."""
    status = Status()
    try:
        status.ParseFromString(status_bytes)
    except DecodeError:
        return []
    details = []
    for item in status.details:
        # type_url is "type.googleapis.com/gateway.ErrorDetail"; only the part after the last slash is the type.
        if item.type_url.rsplit("/", 1)[-1] != _ERROR_DETAIL_TYPE:
            continue
        detail = gateway_pb2.ErrorDetail()
        try:
            detail.ParseFromString(item.value)
        except DecodeError:
            continue
        details.append(ErrorDetail(address=detail.address, msp_id=detail.msp_id, message=detail.message))
    return details


def details_from_metadata(metadata: Iterable[Any] | None) -> list[ErrorDetail]:
    """Find and parse 'grpc-status-details-bin' in trailing metadata (sync tuples or grpc.aio.Metadata)."""
    if not metadata:
        return []
    for key, value in metadata:
        if key == STATUS_DETAILS_KEY:
            return parse_status_details(value if isinstance(value, bytes) else value.encode("latin-1"))
    return []


def _rpc_parts(err: grpc.RpcError) -> tuple[grpc.StatusCode | None, str, list[ErrorDetail]]:
    # grpc.RpcError itself has no accessors; the concrete errors (sync and aio) are also Calls.
    code = err.code() if hasattr(err, "code") else None
    message = (err.details() if hasattr(err, "details") else None) or str(err)
    metadata = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    return code, message, details_from_metadata(metadata)


class GatewayError(Exception):
    """A gateway call failed: the gRPC status code, its message and the per-node details."""

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode | None = None,
        details: Sequence[ErrorDetail] = (),
        transaction_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = list(details)
        self.transaction_id = transaction_id

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError, transaction_id: str | None = None) -> GatewayError:
        code, message, details = _rpc_parts(err)
        return cls(message, code=code, details=details, transaction_id=transaction_id)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}" if self.code is not None else self.message
        if self.transaction_id and self.transaction_id not in text:
            text += f" (transaction {self.transaction_id})"
        if self.details:
            text += " [" + "; ".join(str(d) for d in self.details) + "]"
        return text


class EndorseError(GatewayError):
    """Endorsement failed: chaincode error, endorsement policy not satisfiable, peers unreachable."""


class SubmitError(GatewayError):
    """The endorsed transaction could not be sent to the ordering service."""


class CommitStatusError(GatewayError):
    """The commit status of a submitted transaction could not be obtained (it may still commit)."""


class CommitError(GatewayError):
    """The transaction was ordered but validated as invalid (e.g. MVCC_READ_CONFLICT).

    The gateway calls all succeeded, so `code` (the gRPC status) is None; the validation
    result is in `validation_code` / `validation_code_name` and `status`.
    """

    def __init__(self, status: CommitStatus) -> None:
        self.status = status
        self.validation_code = status.code
        self.validation_code_name = validation_code_name(status.code)
        super().__init__(
            f"transaction {status.transaction_id} failed to commit with status code "
            f"{status.code} ({self.validation_code_name})",
            transaction_id=status.transaction_id,
        )
