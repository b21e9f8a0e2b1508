"""How a transaction was validated at commit: the commit status the gateway reports (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.peer import transaction_pb2


def validation_code_name(code: int) -> str:
    """peer.TxValidationCode name, or the number when a newer peer sends a code this build does not know."""
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return str(code)


@dataclass(frozen=True)
class Status:
    """How a transaction was validated at commit (peer.TxValidationCode) and in which block."""

    transaction_id: str
    code: int
    block_number: int

    @property
    def code_name(self) -> str:
        return validation_code_name(self.code)

    @property
    def successful(self) -> bool:
        return self.code == transaction_pb2.TxValidationCode.VALID
