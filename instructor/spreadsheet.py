"""CSV cells that spreadsheets show as text: grades.csv and canvas.csv hold student ids,
names from rosters and notes, which a spreadsheet would otherwise run as formulas."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A CSV cell that Excel, LibreOffice and Google Sheets show as text, never run:
    text starting with =, +, - or @ (or a tab or carriage return) gets a leading
    apostrophe, unless it is a plain number such as -1.5. Everything else is unchanged,
    so student ids read as they do in the feedback folders and results."""
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_STARTS):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell if cell.strip() == cell and cell.lower().lstrip("+-") not in (
        "inf", "infinity", "nan") else "'" + cell
