"""A safe calculator: arithmetic on an AST whitelist, never ``eval``.

>>> evaluate("23 * 4")
92
>>> evaluate("sqrt(2) ** 2 + min(3, 4)")
5.000000000000001

Allowed: int and float literals, ``+ - * / // % **``, unary ``+``/``-``, parentheses, the functions
``sqrt abs round min max`` and the constants ``pi e``. ``^`` means power and ``×``/``÷`` are accepted.
Everything is bounded so a hostile expression cannot hang or exhaust the server: the expression length,
the nesting depth, every intermediate magnitude and the size of powers. Anything else raises
:class:`CalculatorError` with a message that says why.
"""

from __future__ import annotations

import ast
import logging
import math
import operator
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

MAX_EXPRESSION_LENGTH = 200
"""Characters; longer input is refused before parsing."""
MAX_DEPTH = 40
"""Nesting depth of the syntax tree."""
MAX_MAGNITUDE = 10**100
"""Largest absolute value of any intermediate or final result."""
MAX_EXPONENT = 1000
"""Largest absolute exponent of ``**``."""

Number = int | float


class CalculatorError(ValueError):
    """The expression is not allowed, not valid, or its result is out of bounds."""


class CalculatorSyntaxError(CalculatorError):
    """The text is not an arithmetic expression (bad syntax, a name, a call or a node not allowed)."""


def _sqrt(value: Number) -> float:
    if value < 0:
        raise CalculatorError("cannot take the square root of a negative number")
    return math.sqrt(value)


def _round(value: Number, digits: Number = 0) -> Number:
    if not isinstance(digits, int) or not -20 <= digits <= 20:
        raise CalculatorError("round() takes a whole number of digits between -20 and 20")
    return round(value, digits) if digits else round(value)


def _min(*values: Number) -> Number:
    if not values:
        raise CalculatorError("min() needs at least one number")
    return min(values)


def _max(*values: Number) -> Number:
    if not values:
        raise CalculatorError("max() needs at least one number")
    return max(values)


def _abs(value: Number) -> Number:
    return abs(value)


_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    # name: (function, min args, max args)
    "sqrt": (_sqrt, 1, 1),
    "abs": (_abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_min, 1, 20),
    "max": (_max, 1, 20),
}

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _pow(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent too large (at most {MAX_EXPONENT})")
    if base == 0 and exponent < 0:
        raise CalculatorError("cannot divide by zero")
    # Estimate the size before computing: log10(|base ** exponent|) = exponent * log10(|base|).
    if base != 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise CalculatorError("result too large")
    if base < 0 and not float(exponent).is_integer():
        raise CalculatorError("cannot raise a negative number to a fractional power")
    return base**exponent


def _div(left: Number, right: Number) -> Number:
    if right == 0:
        raise CalculatorError("cannot divide by zero")
    return left / right


def _floordiv(left: Number, right: Number) -> Number:
    if right == 0:
        raise CalculatorError("cannot divide by zero")
    return left // right


def _mod(left: Number, right: Number) -> Number:
    if right == 0:
        raise CalculatorError("cannot divide by zero")
    return left % right


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}

_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _check(value: Number) -> Number:
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise CalculatorError("result too large")
    return value


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalculatorError("expression nested too deeply")
    depth += 1

    if isinstance(node, ast.Expression):
        return _eval(node.body, depth)

    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorSyntaxError(f"only numbers are allowed, not {value!r}")
        return _check(value)

    if isinstance(node, ast.BinOp):
        binary = _BINARY.get(type(node.op))
        if binary is None:
            raise CalculatorSyntaxError(f"operator {type(node.op).__name__} is not allowed")
        left = _eval(node.left, depth)
        right = _eval(node.right, depth)
        return _check(binary(left, right))

    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise CalculatorSyntaxError(f"operator {type(node.op).__name__} is not allowed")
        return _check(unary(_eval(node.operand, depth)))

    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise CalculatorSyntaxError(f"unknown name {node.id!r}")

    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise CalculatorSyntaxError("only sqrt, abs, round, min and max can be called")
        if node.keywords:
            raise CalculatorSyntaxError("keyword arguments are not allowed")
        function, min_args, max_args = _FUNCTIONS[node.func.id]
        if not min_args <= len(node.args) <= max_args:
            raise CalculatorSyntaxError(f"{node.func.id}() takes {min_args} to {max_args} arguments")
        args = [_eval(arg, depth) for arg in node.args]
        try:
            return _check(function(*args))
        except (OverflowError, ValueError) as err:
            if isinstance(err, CalculatorError):
                raise
            raise CalculatorError(f"{node.func.id}() failed: {err}") from err

    raise CalculatorSyntaxError(f"{type(node).__name__} is not allowed in a calculation")


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely; raise :class:`CalculatorError` if it is refused.

    Integer arithmetic stays exact (``int``); division gives ``float``.
    """
    if not isinstance(expression, str):
        raise CalculatorError("expression must be text")
    text = expression.strip()
    if not text:
        raise CalculatorError("empty expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise CalculatorError(f"expression too long (at most {MAX_EXPRESSION_LENGTH} characters)")
    text = text.replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise CalculatorSyntaxError(f"not a valid expression: {expression!r}") from err
    try:
        return _eval(tree, 0)
    except OverflowError as err:
        raise CalculatorError("result too large") from err
    except ZeroDivisionError as err:  # e.g. 0.0 ** -1 edge cases
        raise CalculatorError("cannot divide by zero") from err
