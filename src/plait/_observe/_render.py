"""Drawing a task tree as text: one line per task, box-drawing branches.

A line reads ``name [labels] (age) at function (file:line)``. Siblings that
would print the very same line and have no children of their own (workers
idle at the same spot) are folded into one line with a count, as pstree
folds identical processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._tree import TaskNode, TaskTree

_BRANCH, _LAST, _PIPE, _SPACE = "├── ", "└── ", "│   ", "    "


def render(tree: TaskTree, *, stacks: bool = False) -> str:
    """Return *tree* drawn as text, a header line first."""
    count = len(tree)
    lines = [
        f"{count} task{'s' if count != 1 else ''} on {tree.backend} (pid {tree.pid})"
    ]
    _draw(tree.roots, "", lines, stacks)
    return "\n".join(lines)


def _draw(
    nodes: tuple[TaskNode, ...], prefix: str, out: list[str], stacks: bool
) -> None:
    entries = _fold(nodes, stacks)
    for position, (node, count) in enumerate(entries):
        last = position == len(entries) - 1
        text = describe_node(node)
        if count > 1:
            text = f"{count}*[{text}]"
        out.append(prefix + (_LAST if last else _BRANCH) + text)
        inner = prefix + (_SPACE if last else _PIPE)
        if stacks:
            for frame in node.stack:
                out.append(
                    inner + ("    " if not node.children else "│   ") + f"  {frame}"
                )
        _draw(node.children, inner, out, stacks)


def _fold(nodes: tuple[TaskNode, ...], stacks: bool) -> list[tuple[TaskNode, int]]:
    if stacks:
        return [(node, 1) for node in nodes]
    entries: list[tuple[TaskNode, int]] = []
    leaves: dict[str, int] = {}
    for node in nodes:
        if node.children:
            entries.append((node, 1))
            continue
        text = describe_node(node)
        if text in leaves:
            first, count = entries[leaves[text]]
            entries[leaves[text]] = (first, count + 1)
        else:
            leaves[text] = len(entries)
            entries.append((node, 1))
    return entries


def describe_node(node: TaskNode) -> str:
    """Return the one-line description of *node* (without branches)."""
    parts = [node.name or "<unnamed task>"]
    if node.labels:
        parts.append("[" + " > ".join(describe_labels(m) for m in node.labels) + "]")
    if node.age is not None:
        parts.append(f"({format_age(node.age)})")
    if node.current:
        parts.append("(this task)")
    if node.where is not None:
        parts.append(f"at {node.where}")
    return " ".join(parts)


def describe_labels(labels: Mapping[str, Any]) -> str:
    """Return one label mapping in words: ``bounded_map item 3 'a', attempt 2``."""
    rest = dict(labels)
    if "service" in rest:
        text = f"service {rest.pop('service')!r}"
        details = _pop_all(rest, ("state",))
        restarts = rest.pop("restarts", None)
        if restarts is not None:
            details.append(f"{restarts} restart{'s' if restarts != 1 else ''}")
        rest.pop("supervisor", None)
    elif "job" in rest:
        text = f"job {rest.pop('job')}"
        details = _pop_all(rest, ("job_type",))
    elif "periodic" in rest:
        text = f"periodic job {rest.pop('periodic')!r}"
        details = []
    elif "supervisor" in rest:
        text = f"supervisor {rest.pop('supervisor')!r}"
        details = []
    elif "pattern" in rest:
        text = str(rest.pop("pattern"))
        index = rest.pop("index", None)
        if index is not None:
            text += f" item {index}" if text in _ITEM_PATTERNS else f" argument {index}"
        item = rest.pop("item", None)
        if item is not None:
            text += f" ({item})" if index is not None else f" of {item}"
        details = []
    else:
        text, details = "", []
    attempt = rest.pop("attempt", None)
    if attempt is not None:
        details.append(f"attempt {attempt}")
    details += _pop_all(rest, ("state", "role"))
    details += [f"{key}={value}" for key, value in rest.items()]
    if details:
        text = f"{text}: {', '.join(details)}" if text else ", ".join(details)
    return text


_ITEM_PATTERNS = frozenset({"bounded_map", "imap"})


def _pop_all(mapping: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [str(mapping.pop(key)) for key in keys if mapping.get(key) is not None]


def format_age(seconds: float) -> str:
    """Return *seconds* as ``0.25s``, ``12.3s``, ``4m05s`` or ``2h03m``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def describe_blocked(answer: Mapping[str, Any]) -> str:
    """Return a monitor's "the loop is blocked" answer as a traceback-like text."""
    blocked = answer["blocked"]
    lines = [
        f"the event loop of process {answer.get('pid')} ({answer.get('backend')}) "
        f"did not answer within {blocked['waited']:g}s: something blocks it.",
        f"Its thread ({blocked['thread']}) is running (most recent call last):",
    ]
    for entry in blocked["stack"]:
        lines.append(
            f'  File "{entry["file"]}", line {entry["line"]}, in {entry["function"]}'
        )
        if entry.get("code"):
            lines.append(f"    {entry['code']}")
    if not blocked["stack"]:
        lines.append("  (its stack could not be read)")
    return "\n".join(lines)
