from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluationPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVALUATION_PURPOSE_UNSPECIFIED: _ClassVar[EvaluationPurpose]
    EVALUATION_FOR_CHECK: _ClassVar[EvaluationPurpose]
    EVALUATION_FOR_IMPORT: _ClassVar[EvaluationPurpose]

class NodeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATUS_UNSPECIFIED: _ClassVar[NodeStatus]
    ANSWERED: _ClassVar[NodeStatus]
    UNREACHABLE: _ClassVar[NodeStatus]
    TIMEOUT: _ClassVar[NodeStatus]
    ERROR: _ClassVar[NodeStatus]

class QueryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK: _ClassVar[QueryKind]
    RIGHTS_REQUEST: _ClassVar[QueryKind]

class Strength(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRENGTH_UNSPECIFIED: _ClassVar[Strength]
    MOGELIJK: _ClassVar[Strength]
    WAARSCHIJNLIJK: _ClassVar[Strength]
    STERK: _ClassVar[Strength]
    ZEKER: _ClassVar[Strength]
EVALUATION_PURPOSE_UNSPECIFIED: EvaluationPurpose
EVALUATION_FOR_CHECK: EvaluationPurpose
EVALUATION_FOR_IMPORT: EvaluationPurpose
NODE_STATUS_UNSPECIFIED: NodeStatus
ANSWERED: NodeStatus
UNREACHABLE: NodeStatus
TIMEOUT: NodeStatus
ERROR: NodeStatus
CHECK: QueryKind
RIGHTS_REQUEST: QueryKind
STRENGTH_UNSPECIFIED: Strength
MOGELIJK: Strength
WAARSCHIJNLIJK: Strength
STERK: Strength
ZEKER: Strength

class EvaluateRequest(_message.Message):
    __slots__ = ("epoch", "blinded_elements", "request_id", "purpose")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BLINDED_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    blinded_elements: _containers.RepeatedScalarFieldContainer[bytes]
    request_id: str
    purpose: EvaluationPurpose
    def __init__(self, epoch: _Optional[int] = ..., blinded_elements: _Optional[_Iterable[bytes]] = ..., request_id: _Optional[str] = ..., purpose: _Optional[_Union[EvaluationPurpose, str]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("epoch", "evaluated_elements", "proof")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    evaluated_elements: _containers.RepeatedScalarFieldContainer[bytes]
    proof: bytes
    def __init__(self, epoch: _Optional[int] = ..., evaluated_elements: _Optional[_Iterable[bytes]] = ..., proof: _Optional[bytes] = ...) -> None: ...

class EvaluateShareRequest(_message.Message):
    __slots__ = ("epoch", "blinded_elements", "request_id", "purpose")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BLINDED_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    blinded_elements: _containers.RepeatedScalarFieldContainer[bytes]
    request_id: str
    purpose: EvaluationPurpose
    def __init__(self, epoch: _Optional[int] = ..., blinded_elements: _Optional[_Iterable[bytes]] = ..., request_id: _Optional[str] = ..., purpose: _Optional[_Union[EvaluationPurpose, str]] = ...) -> None: ...

class EvaluateShareResponse(_message.Message):
    __slots__ = ("holder_id", "epoch", "request_id", "evaluated_elements", "proof")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    epoch: int
    request_id: str
    evaluated_elements: _containers.RepeatedScalarFieldContainer[bytes]
    proof: bytes
    def __init__(self, holder_id: _Optional[str] = ..., epoch: _Optional[int] = ..., request_id: _Optional[str] = ..., evaluated_elements: _Optional[_Iterable[bytes]] = ..., proof: _Optional[bytes] = ...) -> None: ...

class SealedQuery(_message.Message):
    __slots__ = ("node_id", "sealed")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    sealed: bytes
    def __init__(self, node_id: _Optional[str] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("query_id", "queries")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    queries: _containers.RepeatedCompositeFieldContainer[SealedQuery]
    def __init__(self, query_id: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[SealedQuery, _Mapping]]] = ...) -> None: ...

class NodeResult(_message.Message):
    __slots__ = ("node_id", "status", "sealed_answer", "detail")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEALED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    status: NodeStatus
    sealed_answer: bytes
    detail: str
    def __init__(self, node_id: _Optional[str] = ..., status: _Optional[_Union[NodeStatus, str]] = ..., sealed_answer: _Optional[bytes] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("query_id", "results")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    results: _containers.RepeatedCompositeFieldContainer[NodeResult]
    def __init__(self, query_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[NodeResult, _Mapping]]] = ...) -> None: ...

class LookupRequest(_message.Message):
    __slots__ = ("query_id", "from_node", "sealed")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    from_node: str
    sealed: bytes
    def __init__(self, query_id: _Optional[str] = ..., from_node: _Optional[str] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class LookupResponse(_message.Message):
    __slots__ = ("sealed_answer",)
    SEALED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    sealed_answer: bytes
    def __init__(self, sealed_answer: _Optional[bytes] = ...) -> None: ...

class GetDirectoryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignedDirectory(_message.Message):
    __slots__ = ("directory", "signature")
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    directory: bytes
    signature: bytes
    def __init__(self, directory: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Directory(_message.Message):
    __slots__ = ("network", "serial", "issued_at", "nodes", "oprf_keys", "current_epoch", "bsn_enabled", "match_key_versions", "key_holders")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    OPRF_KEYS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    BSN_ENABLED_FIELD_NUMBER: _ClassVar[int]
    MATCH_KEY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDERS_FIELD_NUMBER: _ClassVar[int]
    network: str
    serial: int
    issued_at: int
    nodes: _containers.RepeatedCompositeFieldContainer[DirectoryNode]
    oprf_keys: _containers.RepeatedCompositeFieldContainer[OprfKey]
    current_epoch: int
    bsn_enabled: bool
    match_key_versions: _containers.RepeatedScalarFieldContainer[int]
    key_holders: _containers.RepeatedCompositeFieldContainer[KeyHolderEntry]
    def __init__(self, network: _Optional[str] = ..., serial: _Optional[int] = ..., issued_at: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[DirectoryNode, _Mapping]]] = ..., oprf_keys: _Optional[_Iterable[_Union[OprfKey, _Mapping]]] = ..., current_epoch: _Optional[int] = ..., bsn_enabled: _Optional[bool] = ..., match_key_versions: _Optional[_Iterable[int]] = ..., key_holders: _Optional[_Iterable[_Union[KeyHolderEntry, _Mapping]]] = ...) -> None: ...

class KeyHolderEntry(_message.Message):
    __slots__ = ("holder_id", "display_name", "endpoint")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    display_name: str
    endpoint: str
    def __init__(self, holder_id: _Optional[str] = ..., display_name: _Optional[str] = ..., endpoint: _Optional[str] = ...) -> None: ...

class DirectoryNode(_message.Message):
    __slots__ = ("node_id", "display_name", "endpoint", "box_public_key")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    BOX_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    display_name: str
    endpoint: str
    box_public_key: bytes
    def __init__(self, node_id: _Optional[str] = ..., display_name: _Optional[str] = ..., endpoint: _Optional[str] = ..., box_public_key: _Optional[bytes] = ...) -> None: ...

class OprfKey(_message.Message):
    __slots__ = ("epoch", "public_key", "threshold", "public_shares")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_SHARES_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    public_key: bytes
    threshold: int
    public_shares: _containers.RepeatedCompositeFieldContainer[PublicShare]
    def __init__(self, epoch: _Optional[int] = ..., public_key: _Optional[bytes] = ..., threshold: _Optional[int] = ..., public_shares: _Optional[_Iterable[_Union[PublicShare, _Mapping]]] = ...) -> None: ...

class PublicShare(_message.Message):
    __slots__ = ("holder_id", "index", "public_share")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_SHARE_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    index: int
    public_share: bytes
    def __init__(self, holder_id: _Optional[str] = ..., index: _Optional[int] = ..., public_share: _Optional[bytes] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("name", "phone", "email")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    phone: str
    email: str
    def __init__(self, name: _Optional[str] = ..., phone: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class SubjectTags(_message.Message):
    __slots__ = ("subject", "tags")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    subject: int
    tags: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, subject: _Optional[int] = ..., tags: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EpochTags(_message.Message):
    __slots__ = ("epoch", "subjects")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    subjects: _containers.RepeatedCompositeFieldContainer[SubjectTags]
    def __init__(self, epoch: _Optional[int] = ..., subjects: _Optional[_Iterable[_Union[SubjectTags, _Mapping]]] = ...) -> None: ...

class QueryPayload(_message.Message):
    __slots__ = ("query_id", "timestamp_ms", "from_node", "from_zvh", "requester", "epochs", "answer_bucket", "exclude_case_ref", "purpose", "kind")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    FROM_ZVH_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_BUCKET_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_CASE_REF_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    timestamp_ms: int
    from_node: str
    from_zvh: str
    requester: Contact
    epochs: _containers.RepeatedCompositeFieldContainer[EpochTags]
    answer_bucket: int
    exclude_case_ref: str
    purpose: str
    kind: QueryKind
    def __init__(self, query_id: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., from_node: _Optional[str] = ..., from_zvh: _Optional[str] = ..., requester: _Optional[_Union[Contact, _Mapping]] = ..., epochs: _Optional[_Iterable[_Union[EpochTags, _Mapping]]] = ..., answer_bucket: _Optional[int] = ..., exclude_case_ref: _Optional[str] = ..., purpose: _Optional[str] = ..., kind: _Optional[_Union[QueryKind, str]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("subject", "strength", "contact", "assess_first")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    ASSESS_FIRST_FIELD_NUMBER: _ClassVar[int]
    subject: int
    strength: Strength
    contact: int
    assess_first: bool
    def __init__(self, subject: _Optional[int] = ..., strength: _Optional[_Union[Strength, str]] = ..., contact: _Optional[int] = ..., assess_first: _Optional[bool] = ...) -> None: ...

class AnswerPayload(_message.Message):
    __slots__ = ("query_id", "node_id", "hits", "truncated", "contacts")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    node_id: str
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    truncated: bool
    contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    def __init__(self, query_id: _Optional[str] = ..., node_id: _Optional[str] = ..., hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., truncated: _Optional[bool] = ..., contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ...) -> None: ...
