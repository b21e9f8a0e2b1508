"""google.rpc.Status, built at import time in a private descriptor pool.

grpcio ships no googleapis protos and the project must not add packages, so the three-field
message is declared here. A private pool keeps it from clashing with googleapis-common-protos
should that be installed later.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

_F = descriptor_pb2.FieldDescriptorProto


def _status_class() -> type[Message]:
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto()
    any_pb2.DESCRIPTOR.CopyToProto(any_file)
    pool.Add(any_file)

    status_file = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        dependency=[any_file.name],
        syntax="proto3",
    )
    message = status_file.message_type.add(name="Status")
    message.field.add(name="code", number=1, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    message.field.add(name="message", number=2, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    message.field.add(
        name="details", number=3, type=_F.TYPE_MESSAGE, label=_F.LABEL_REPEATED, type_name=".google.protobuf.Any"
    )
    pool.Add(status_file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


Status = _status_class()

# The trailing-metadata key under which gRPC servers put a serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"
