"""Objects that both steps and reports carry: attachments and free-form additional data.

``attachment`` (one per step) and ``binaryData`` (report level, repair reports, and each UUR
failure's ``attachments``) hold Base64 text, kept as text so that a round trip cannot re-encode it.
``additionalData`` (report) and ``additionalResults`` (step) are TestStand's "free XML" results: a
tree of typed properties, some of them arrays.
"""

from __future__ import annotations

import uuid

from msgspec import UNSET

from ._base import Maybe, WsjfObject

__all__ = [
    "AdditionalData",
    "AdditionalDataArray",
    "AdditionalDataArrayIndex",
    "AdditionalDataProperty",
    "Attachment",
    "BinaryData",
]


class Attachment(WsjfObject, frozen=True, kw_only=True):
    """A file attached to a step (``step.attachment``).

    Attributes:
        name: file name shown in WATS.
        content_type: MIME type, e.g. ``image/png``.
        data: the content, Base64.
    """

    name: Maybe[str] = UNSET
    content_type: Maybe[str] = UNSET
    data: Maybe[str] = UNSET


class BinaryData(WsjfObject, frozen=True, kw_only=True):
    """A report-level attachment (``binaryData[]``; repair reports and UUR failures).

    Attributes:
        content_type: MIME type.
        data: the content, Base64.
        name: file name.
        id: the attachment's GUID.
    """

    content_type: Maybe[str] = UNSET
    data: Maybe[str] = UNSET
    name: Maybe[str] = UNSET
    id: Maybe[uuid.UUID] = UNSET


class AdditionalDataProperty(WsjfObject, frozen=True, kw_only=True):
    """One typed property of additional data; an ``Obj`` property nests ``props``.

    Attributes:
        name: property name.
        type: TestStand type name (``Number``, ``String``, ``Boolean``, ``Obj``...).
        flags: TestStand property flags.
        value: the value as text.
        num_format: TestStand numeric format of ``value``.
        comment: free comment.
        props: child properties of an ``Obj`` property.
        array: the elements when the property is an array.
    """

    name: Maybe[str] = UNSET
    type: Maybe[str] = UNSET
    flags: Maybe[int] = UNSET
    value: Maybe[str] = UNSET
    num_format: Maybe[str] = UNSET
    comment: Maybe[str] = UNSET
    props: Maybe[tuple[AdditionalDataProperty, ...]] = UNSET
    array: Maybe[AdditionalDataArray] = UNSET


class AdditionalDataArrayIndex(WsjfObject, frozen=True, kw_only=True):
    """One element of an additional-data array.

    Attributes:
        text: the index as TestStand writes it, e.g. ``[0][1]``.
        indexes: the index per dimension.
        value: the element.
    """

    text: Maybe[str] = UNSET
    indexes: Maybe[tuple[int, ...]] = UNSET
    value: Maybe[AdditionalDataProperty] = UNSET


class AdditionalDataArray(WsjfObject, frozen=True, kw_only=True):
    """The elements of an array property.

    Attributes:
        dimension: number of dimensions.
        type: element type name.
        indexes: the elements.
    """

    dimension: Maybe[int] = UNSET
    type: Maybe[str] = UNSET
    indexes: Maybe[tuple[AdditionalDataArrayIndex, ...]] = UNSET


class AdditionalData(WsjfObject, frozen=True, kw_only=True):
    """A named group of additional data (``additionalData[]``, ``additionalResults[]``).

    Attributes:
        name: group name.
        props: its properties.
    """

    name: Maybe[str] = UNSET
    props: Maybe[tuple[AdditionalDataProperty, ...]] = UNSET
