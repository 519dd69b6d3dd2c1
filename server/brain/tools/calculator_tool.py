"""Arithmetic through the safe AST evaluator (`calculator.evaluate`), never ``eval``."""

from __future__ import annotations

import math
from typing import Any

from ..context import TurnContext
from .base import Tool, ToolError, ToolResult, ToolSpec


def format_number(value: float) -> str:
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


class CalculatorTool(Tool):
    spec = ToolSpec(
        "calculate",
        "Evaluate an arithmetic expression exactly (+ - * / ** %, parentheses, sqrt).",
        {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "e.g. (23 * 4) / 7"}},
            "required": ["expression"],
        },
    )

    async def call(self, arguments: dict[str, Any], ctx: TurnContext) -> ToolResult:
        from ..calculator import evaluate  # the intents engineer's safe evaluator

        expression = str(arguments.get("expression") or "").strip()
        if not expression:
            raise ToolError("missing 'expression'")
        try:
            value = evaluate(expression)
        except ZeroDivisionError as err:
            raise ToolError("division by zero") from err
        except (ValueError, TypeError, SyntaxError, OverflowError, ArithmeticError) as err:
            raise ToolError(f"cannot evaluate {expression!r}: {err}") from err
        return ToolResult(f"{expression} = {format_number(float(value))}")
