"""The register as the CNIL's own spreadsheet model (ODS), filled in.

Built from the CNIL's published file, ``cnil-registre-traitement-simplifie.ods`` beside this module
(a public CNIL document, copied unchanged). The output keeps the tutorial and the lists sheets, fills
the list of processing activities, and has one record sheet per activity, copied from the model
sheet and filled the way the CNIL's example sheet is: only the lines an activity uses are kept, and
lines are added when it has more items than the model offers. The model and example sheets are left
out: a DPO hands this file to the CNIL as it is.
"""
from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from odf import teletype
from odf.element import Element, Node, Text
from odf.namespaces import OFFICENS, TABLENS, TEXTNS, XLINKNS
from odf.opendocument import OpenDocument, load
from odf.table import Table, TableCell, TableRow
from odf.text import A, P

from ..models import DataCategory, Organisation, ProcessingActivity
from .csv_export import (
    active_purposes,
    dpo_uses_organisation_address,
    is_sensitive,
    legal_basis_text,
    local_date,
    retention_text,
    transfer_safeguard_text,
    transfers_of,
)

TEMPLATE_PATH = Path(__file__).with_name("cnil-registre-traitement-simplifie.ods")

TUTORIAL_SHEET = "Tutoriel"
LIST_SHEET = "2_-_Liste_des_traitements"
MODEL_SHEET = "3_-_Modèle_de_fiche_de_registre"
EXAMPLE_SHEET = "4_-_Exemple_de_fiche"
LISTS_SHEET = "5_-_Listes"

CALCEXTNS = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
MAX_ROWS = 1_048_576  # LibreOffice and Excel: more rows and the sheet is cut on opening
SHEET_NAME_MAX = 31  # Excel's limit
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\']")
_CELL_QNAMES = ((TABLENS, "table-cell"), (TABLENS, "covered-table-cell"))
_VALUE_ATTRIBUTES = (
    (OFFICENS, "value-type"), (CALCEXTNS, "value-type"), (OFFICENS, "string-value"),
    (OFFICENS, "date-value"), (OFFICENS, "value"), (OFFICENS, "boolean-value"), (OFFICENS, "time-value"),
)

# The CNIL model's wording of each data-category group (its record sheet, rows "Catégories de
# données personnelles concernées"); professional life and internet data come from its full model.
GROUP_LABELS: dict[str, str] = {
    DataCategory.CnilGroup.IDENTITY: "État civil, identité, données d'identification, images…",
    DataCategory.CnilGroup.PERSONAL_LIFE: "Vie personnelle (habitudes de vie, situation familiale, etc.)",
    DataCategory.CnilGroup.PROFESSIONAL_LIFE: (
        "Vie professionnelle (CV, scolarité, formation professionnelle, distinctions, etc.)"
    ),
    DataCategory.CnilGroup.ECONOMIC: (
        "Informations d'ordre économique et financier (revenus, situation financière, situation fiscale, etc.)"
    ),
    DataCategory.CnilGroup.CONNECTION: "Données de connexion (adresse IP, logs, etc.)",
    DataCategory.CnilGroup.LOCATION: "Données de localisation (déplacements, données GPS, GSM, etc.)",
    DataCategory.CnilGroup.INTERNET: "Données d'internet (cookies, traceurs, données de navigation, etc.)",
    DataCategory.CnilGroup.NIR: "Numéro de Sécurité Sociale (ou NIR)",
    DataCategory.CnilGroup.OFFENCES: "Données relatives à des condamnations pénales ou infractions",
}
PROCESSOR_RECIPIENT_TYPE = "Sous-traitants"  # the CNIL list's wording
OTHER_MEASURES = "Autres mesures (à préciser)"  # the CNIL list's wording
NO_TRANSFER = "Aucun transfert hors UE"
NOT_APPLICABLE = "N/A"  # as the CNIL example fills an unused line

# Rows of the model sheet (0-based, as the template has them).
class _Model:
    TITLE, INTRO, NAME, REF, CREATED, UPDATED = 0, 1, 3, 4, 5, 6
    CONTROLLER, DPO, DPO_COMPANY, REPRESENTATIVE, JOINT = 9, 10, 11, 12, 13
    MAIN_PURPOSE = 16
    SUB_PURPOSES = range(17, 22)
    CATEGORIES = range(24, 30)
    SENSITIVE_BLOCK = range(31, 42)  # header, lines, spacer
    SENSITIVE = range(32, 41)
    PEOPLE = range(43, 45)
    RECIPIENTS = range(47, 51)
    MEASURES = range(53, 56)
    TRANSFERS = range(58, 62)
    LAST = 62
    REF_COLUMN = 7  # H1: "=[.B5]", the reference shown in the title row


# Rows of the example sheet whose filled cells lend their style to ours (bold blue, centred).
class _Example:
    NAME, REF, CREATED, UPDATED = 3, 4, 5, 6
    CONTROLLER, DPO, DPO_COMPANY = 9, 10, 11
    MAIN_PURPOSE = 14
    SUB_PURPOSES = range(15, 18)
    CATEGORIES = range(20, 23)
    PEOPLE = range(25, 26)
    RECIPIENTS = range(28, 31)
    MEASURES = range(33, 36)
    TRANSFERS = range(38, 39)


# Rows of the list sheet.
class _List:
    CONTROLLER, REPRESENTATIVE, DPO = 0, 2, 4
    FIRST_ACTIVITY = 8  # the CNIL's example row, replaced
    LAST_BANDED = 29  # rows 8-29 alternate two shades; row 30 closes the table


def register_ods(*, organisation: Organisation | None, activities: list[ProcessingActivity]) -> bytes:
    """The register in the CNIL's ODS model: list of activities, then one record sheet per activity."""
    doc = _load_template()
    tables = {table.getAttribute("name"): table for table in doc.spreadsheet.getElementsByType(Table)}
    model, example, lists = tables[MODEL_SHEET], tables[EXAMPLE_SHEET], tables[LISTS_SHEET]

    _fill_list_sheet(tables[LIST_SHEET], organisation, activities)

    names = _sheet_names([a.reference for a in activities], reserved=[TUTORIAL_SHEET, LIST_SHEET, LISTS_SHEET])
    for activity, name in zip(activities, names):
        sheet = _clone(model)
        sheet.setAttrNS(TABLENS, "name", name)
        _fill_record_sheet(sheet, _rows(example), organisation, activity)
        doc.spreadsheet.insertBefore(sheet, lists)

    doc.spreadsheet.removeChild(model)
    doc.spreadsheet.removeChild(example)
    _repair_references(doc, removed=(MODEL_SHEET, EXAMPLE_SHEET), first_record=names[0] if names else None)

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _load_template() -> OpenDocument:
    doc = load(str(TEMPLATE_PATH))
    # odfpy carries the manifest's root entry and the empty Configurations2/ folder over as opaque
    # parts, which would list them twice; and the thumbnail shows the blank template.
    doc._extra = [part for part in doc._extra if part.filename not in ("/", "Configurations2/")]
    doc.thumbnail = None
    return doc


# --- the list of processing activities ---------------------------------------------------

def _fill_list_sheet(table: Element, organisation: Organisation | None, activities: list[ProcessingActivity]) -> None:
    rows = _rows(table)
    if organisation is not None:
        org = organisation
        _write_row(rows[_List.CONTROLLER], {2: org.head_name or org.name, 6: org.address, 8: org.email})
        _write_row(rows[_List.CONTROLLER + 1], {2: org.postal_code, 4: org.city, 6: org.phone})
        if org.representative_name:
            _write_row(rows[_List.REPRESENTATIVE], {
                2: org.representative_name, 6: _one_line(org.representative_address), 8: org.representative_email,
            })
        dpo_address = _dpo_address(org)
        _write_row(rows[_List.DPO], {2: org.dpo_name, 6: org.dpo_company, 8: dpo_address[0]})
        _write_row(rows[_List.DPO + 1], {2: dpo_address[1], 4: dpo_address[2], 6: org.dpo_phone, 8: org.dpo_email})

    # The example row is dark; ours take the two shades of the rows below it, alternating.
    shades = (rows[_List.FIRST_ACTIVITY + 2], rows[_List.FIRST_ACTIVITY + 1])
    banded = rows[_List.FIRST_ACTIVITY:_List.LAST_BANDED + 1]
    first = _clone(shades[0])
    table.insertBefore(first, banded[0])
    table.removeChild(banded[0])
    banded[0] = first
    while len(banded) < len(activities):
        extra = _clone(shades[len(banded) % 2])
        table.insertBefore(extra, banded[-1].nextSibling)
        banded.append(extra)

    for row, activity in zip(banded, activities):
        # The template formats only column C of these rows as a date: D takes C's style.
        _cell_at(row, 3).setAttrNS(TABLENS, "style-name", _style_at(row, 2))
        purposes = active_purposes(activity)
        _write_row(row, {
            0: activity.name,
            1: activity.reference,
            2: local_date(activity.created_at),
            3: local_date(activity.updated_at),
            4: ", ".join(p.name_fr for p in purposes),
            7: "Oui" if any(is_sensitive(link.category) for link in activity.data_category_links.all()) else "Non",
        })
    _keep_row_limit(table)


# --- one record sheet per activity -------------------------------------------------------

def _fill_record_sheet(table: Element, example: list[Element], organisation: Organisation | None,
                       activity: ProcessingActivity) -> None:
    rows = _rows(table)[:_Model.LAST]  # element references: removing or adding rows moves nothing here
    created = local_date(activity.started_on) or local_date(activity.created_at)
    for model_row, example_row, columns in (
        (_Model.NAME, _Example.NAME, (1,)), (_Model.REF, _Example.REF, (1,)),
        (_Model.CREATED, _Example.CREATED, (1,)), (_Model.UPDATED, _Example.UPDATED, (1,)),
        (_Model.CONTROLLER, _Example.CONTROLLER, range(1, 8)), (_Model.DPO, _Example.DPO, range(1, 8)),
        (_Model.DPO_COMPANY, _Example.DPO_COMPANY, (1,)), (_Model.MAIN_PURPOSE, _Example.MAIN_PURPOSE, (1,)),
    ):
        _restyle(rows[model_row], example[example_row], columns)

    _write(rows[_Model.TITLE], 0, "Fiche de registre")
    _write(rows[_Model.TITLE], _Model.REF_COLUMN, activity.reference, keep_formula=True)
    _write(rows[_Model.INTRO], 0, activity.description)
    _write(rows[_Model.NAME], 1, activity.name)
    _write(rows[_Model.REF], 1, activity.reference)
    _write(rows[_Model.CREATED], 1, _french_date(created))
    _write(rows[_Model.UPDATED], 1, _french_date(local_date(activity.updated_at)))

    # Actors: Nom, Adresse, Code postal, Ville, Pays, Téléphone, Adresse mél (columns B-H).
    if organisation is not None:
        org = organisation
        controller = org.name + (f" — {org.head_name}" if org.head_name else "")
        _write_row(rows[_Model.CONTROLLER], dict(enumerate(
            (controller, org.address, org.postal_code, org.city, org.country, org.phone, org.email), start=1)))
        address, postal_code, city, country = _dpo_address(org)
        _write_row(rows[_Model.DPO], dict(enumerate(
            (org.dpo_name, address, postal_code, city, country, org.dpo_phone, org.dpo_email), start=1)))
        _write(rows[_Model.DPO_COMPANY], 1, org.dpo_company or NOT_APPLICABLE)
    if organisation is not None and organisation.representative_name:
        _write_row(rows[_Model.REPRESENTATIVE], {
            1: organisation.representative_name,
            2: _one_line(organisation.representative_address),
            7: organisation.representative_email,
        })
    else:
        _remove(rows[_Model.REPRESENTATIVE])
    if activity.joint_controllers:
        _write(rows[_Model.JOINT], 1, _one_line(activity.joint_controllers))
    else:
        _remove(rows[_Model.JOINT])

    purposes = active_purposes(activity)
    purpose_lines = [_purpose_line(p) for p in purposes]
    _write(rows[_Model.MAIN_PURPOSE], 1, purpose_lines[0] if purpose_lines else "")
    _fill_lines(
        [rows[i] for i in _Model.SUB_PURPOSES], [{1: line} for line in purpose_lines[1:]], columns=(1,),
        example=[example[i] for i in _Example.SUB_PURPOSES],
        label=lambda n, item: f"Sous-finalité {n}", min_lines=0,
    )

    common, sensitive = _category_lines(activity, purposes)
    _fill_lines(
        [rows[i] for i in _Model.CATEGORIES], common, columns=(1, 4),
        example=[example[i] for i in _Example.CATEGORIES],
        label=lambda n, item: item[0] if item else "", min_lines=0 if sensitive else 1,
    )
    if sensitive:
        _fill_lines([rows[i] for i in _Model.SENSITIVE], sensitive, columns=(1, 4),
                    example=[example[i] for i in _Example.CATEGORIES],
                    label=lambda n, item: item[0] if item else "", min_lines=1)
    else:
        for i in _Model.SENSITIVE_BLOCK:
            _remove(rows[i])

    people = [{1: c.label_fr} for c in activity.data_subject_categories.all()]
    _fill_lines([rows[i] for i in _Model.PEOPLE], example=[example[i] for i in _Example.PEOPLE],
                items=people, columns=(1, 4),
                label=lambda n, item: f"Catégorie de personnes {n}", min_lines=1)

    recipients = [
        {1: r.recipient_type.label_fr, 4: r.name + (f" — {r.description}" if r.description else "")}
        for r in activity.recipients.all()
    ] + [
        {1: PROCESSOR_RECIPIENT_TYPE, 4: p.name + (f" — {p.service}" if p.service else "")
         + (f" ({p.country.label_fr})" if p.country else "")}
        for p in activity.processors.all()
    ]
    _fill_lines([rows[i] for i in _Model.RECIPIENTS], example=[example[i] for i in _Example.RECIPIENTS],
                items=recipients, columns=(1, 4),
                label=lambda n, item: f"Destinataire {n}", min_lines=1)

    measures = [{1: m.label_fr} for m in activity.security_measures.all()]
    if activity.security_details:
        measures.append({1: OTHER_MEASURES, 4: _one_line(activity.security_details)})
    _fill_lines([rows[i] for i in _Model.MEASURES], example=[example[i] for i in _Example.MEASURES],
                items=measures, columns=(1, 4),
                label=lambda n, item: f"Mesure de sécurité {n}", min_lines=1)

    transfers = [
        {1: t.recipient_name, 2: t.country.label_fr, 3: transfer_safeguard_text(t), 5: t.documentation}
        for t in transfers_of(activity)
    ] or [{1: NO_TRANSFER}]
    _fill_lines([rows[i] for i in _Model.TRANSFERS], example=[example[i] for i in _Example.TRANSFERS],
                items=transfers, columns=(1, 2, 3, 5),
                label=lambda n, item: f"Organisme destinataire {n}", min_lines=1)
    _keep_row_limit(table)


def _purpose_line(purpose) -> str:
    basis = legal_basis_text(purpose)
    return f"{purpose.name_fr} — base légale : {basis}" if basis else purpose.name_fr


def _category_lines(activity: ProcessingActivity, purposes) -> tuple[list[dict], list[dict]]:
    """Lines of the categories block: one per CNIL group used (as the CNIL example groups them),
    then one per sensitive category. Column 0 is the line's label, 1 the description, 4 retention."""
    default = _default_retention(purposes)
    grouped: dict[str, list] = {}
    sensitive = []
    for link in activity.data_category_links.all():
        if is_sensitive(link.category):
            label = (GROUP_LABELS[DataCategory.CnilGroup.OFFENCES]
                     if link.category.cnil_group == DataCategory.CnilGroup.OFFENCES else link.category.label_fr)
            sensitive.append({0: label, 1: link.description or link.category.label_fr,
                              4: link.retention or default})
        else:
            grouped.setdefault(link.category.cnil_group, []).append(link)
    common = []
    for group, label in GROUP_LABELS.items():
        links = grouped.get(group)
        if not links:
            continue
        descriptions = [link.description or link.category.label_fr for link in links]
        retentions = [link.retention or default for link in links]
        if len(set(retentions)) == 1:
            retention = retentions[0]
        else:
            retention = " ; ".join(f"{d} : {r}" for d, r in zip(descriptions, retentions) if r)
        common.append({0: label, 1: " ; ".join(descriptions), 4: retention})
    return common, sensitive


def _default_retention(purposes) -> str:
    texts = [(p.name_fr, retention_text(p)) for p in purposes]
    texts = [(name, text) for name, text in texts if text]
    if len({text for _, text in texts}) == 1:
        return texts[0][1]
    return " ; ".join(f"{name} : {text}" for name, text in texts)


def _dpo_address(org: Organisation) -> tuple[str, str, str, str]:
    """Address, postal code, city, country of the DPO (the organisation's for an in-house DPO)."""
    if dpo_uses_organisation_address(org):
        return org.address, org.postal_code, org.city, org.country
    # There is no DPO country field: an external DPO's country is left for the DPO to fill in.
    return org.dpo_address, org.dpo_postal_code, org.dpo_city, ""


def _fill_lines(lines: list[Element], items: Sequence[dict], *, columns: Sequence[int], example: list[Element],
                label: Callable[[int, dict | None], str], min_lines: int) -> None:
    """Fill a block of numbered lines: drop the unused ones, add more (alternating the last two
    lines' shades) when there are more items than lines. Value cells take the style of the
    example sheet's lines (alternating their first two)."""
    count = max(len(items), min_lines)
    template = list(lines)
    for row in lines[count:]:
        _remove(row)
    lines = lines[:count]
    while len(lines) < count:
        source = template[-2 + (len(lines) - len(template)) % 2] if len(template) > 1 else template[-1]
        extra = _clone(source)
        lines[-1].parentNode.insertBefore(extra, lines[-1].nextSibling)
        lines.append(extra)
    for number, row in enumerate(lines, start=1):
        item = items[number - 1] if number <= len(items) else None
        label_cell = _cell_at(row, 0)
        text = label(number, item)
        if text != _text(label_cell):
            _drop_annotations(label_cell)  # a CNIL comment belongs to the line it was written for
            _set_text(label_cell, text)
        for column in columns:
            _write(row, column, (item or {}).get(column, ""))
        _restyle(row, example[(number - 1) % min(len(example), 2)], columns)


# --- cells and rows ----------------------------------------------------------------------

def _rows(table: Element) -> list[Element]:
    return table.getElementsByType(TableRow)


def _restyle(row: Element, example_row: Element, columns) -> None:
    for column in columns:
        style = _style_at(example_row, column)
        if style:
            _cell_at(row, column).setAttrNS(TABLENS, "style-name", style)


def _style_at(row: Element, column: int) -> str | None:
    index = 0
    for cell in row.childNodes:
        if cell.qname not in _CELL_QNAMES:
            continue
        index += int(cell.attributes.get((TABLENS, "number-columns-repeated"), 1))
        if column < index:
            return cell.attributes.get((TABLENS, "style-name"))
    return None


def _remove(row: Element) -> None:
    if row.parentNode is not None:
        row.parentNode.removeChild(row)


def _write_row(row: Element, values: dict[int, object]) -> None:
    for column, value in values.items():
        _write(row, column, value)


def _write(row: Element, column: int, value: object, *, keep_formula: bool = False) -> None:
    cell = _cell_at(row, column)
    if isinstance(value, date):
        _set_date(cell, value)
    else:
        _set_text(cell, "" if value is None else str(value), keep_formula=keep_formula)


def _cell_at(row: Element, column: int) -> Element:
    """The cell at ``column``, split out of a run of repeated cells when it is one."""
    index = 0
    for cell in list(row.childNodes):
        if cell.qname not in _CELL_QNAMES:
            continue
        repeat = int(cell.attributes.get((TABLENS, "number-columns-repeated"), 1))
        if index <= column < index + repeat:
            if repeat > 1:
                before, after = column - index, index + repeat - column - 1
                if before:
                    row.insertBefore(_with_repeat(_clone(cell), before), cell)
                if after:
                    row.insertBefore(_with_repeat(_clone(cell), after), cell.nextSibling)
                _with_repeat(cell, 1)
            return cell
        index += repeat
    raise IndexError(f"no cell at column {column}")


def _with_repeat(cell: Element, repeat: int) -> Element:
    if repeat > 1:
        cell.setAttrNS(TABLENS, "number-columns-repeated", str(repeat))
    else:
        cell.attributes.pop((TABLENS, "number-columns-repeated"), None)
    return cell


def _clear(cell: Element, *, keep_formula: bool = False) -> None:
    for child in list(cell.childNodes):
        if child.qname == (TEXTNS, "p"):
            cell.removeChild(child)
    for attribute in _VALUE_ATTRIBUTES:
        cell.attributes.pop(attribute, None)
    if not keep_formula:
        cell.attributes.pop((TABLENS, "formula"), None)


def _set_text(cell: Element, value: str, *, keep_formula: bool = False) -> None:
    _clear(cell, keep_formula=keep_formula)
    if not value:
        return
    cell.setAttrNS(OFFICENS, "value-type", "string")
    cell.setAttrNS(CALCEXTNS, "value-type", "string")
    if keep_formula:
        cell.setAttrNS(OFFICENS, "string-value", value)
    for line in value.split("\n"):
        paragraph = P()
        teletype.addTextToElement(paragraph, line)
        cell.addElement(paragraph)


def _set_date(cell: Element, value: date) -> None:
    _clear(cell)
    cell.setAttrNS(OFFICENS, "value-type", "date")
    cell.setAttrNS(CALCEXTNS, "value-type", "date")
    cell.setAttrNS(OFFICENS, "date-value", value.isoformat())
    cell.addElement(P(text=_french_date(value)))


def _text(cell: Element) -> str:
    return "\n".join(teletype.extractText(child) for child in cell.childNodes if child.qname == (TEXTNS, "p"))


def _drop_annotations(cell: Element) -> None:
    for child in list(cell.childNodes):
        if child.qname == (OFFICENS, "annotation"):
            cell.removeChild(child)


def _clone(node: Node) -> Node:
    """A deep copy detached from the document (odfpy elements point at their parents)."""
    if node.nodeType == Node.TEXT_NODE:
        return Text(node.data)
    copy = Element(qname=node.qname, qattributes=dict(node.attributes), check_grammar=False)
    for child in node.childNodes:
        copy.appendChild(_clone(child))
    return copy


def _keep_row_limit(table: Element) -> None:
    """Take added rows off the template's trailing run of empty rows, so the sheet keeps its size."""
    rows = _rows(table)
    counts = [int(row.attributes.get((TABLENS, "number-rows-repeated"), 1)) for row in rows]
    excess = sum(counts) - MAX_ROWS
    if excess > 0:
        largest = max(range(len(rows)), key=counts.__getitem__)
        rows[largest].setAttrNS(TABLENS, "number-rows-repeated", str(counts[largest] - excess))


def _french_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _one_line(value: str) -> str:
    return ", ".join(line.strip() for line in value.splitlines() if line.strip())


# --- sheet names and cross-references ----------------------------------------------------

def _sheet_names(references: list[str], *, reserved: list[str]) -> list[str]:
    """Sheet names from activity references: 31 characters at most, none of []:*?/\\', unique."""
    taken = {name.casefold() for name in reserved}
    names = []
    for reference in references:
        base = _SHEET_NAME_FORBIDDEN.sub("_", reference).strip() or "Traitement"
        name, counter = base[:SHEET_NAME_MAX], 1
        while name.casefold() in taken:
            counter += 1
            suffix = f" ({counter})"
            name = base[:SHEET_NAME_MAX - len(suffix)] + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


def _repair_references(doc: OpenDocument, *, removed: tuple[str, ...], first_record: str | None) -> None:
    """Point what referred to the removed sheets elsewhere: the tutorial's links go to the list of
    activities, the drop-down lists' base cells to the first record sheet (or are dropped, unused)."""
    for link in doc.spreadsheet.getElementsByType(A):
        target = link.attributes.get((XLINKNS, "href"), "")
        if any(target.startswith(f"#{name}.") for name in removed):
            link.setAttrNS(XLINKNS, "href", f"#{LIST_SHEET}.A1")
    used = {
        cell.attributes.get((TABLENS, "content-validation-name"))
        for table in doc.spreadsheet.getElementsByType(Table)
        for cell in table.getElementsByType(TableCell)
    }
    for container in doc.spreadsheet.childNodes:
        if container.qname != (TABLENS, "content-validations"):
            continue
        for validation in list(container.childNodes):
            base = validation.attributes.get((TABLENS, "base-cell-address"), "")
            if not any(f"'{name}'." in base or base.startswith(f"{name}.") for name in removed):
                continue
            if validation.attributes.get((TABLENS, "name")) in used and first_record:
                cell = base.rsplit(".", 1)[-1]
                validation.setAttrNS(TABLENS, "base-cell-address", f"'{first_record}'.{cell}")
            else:
                container.removeChild(validation)

