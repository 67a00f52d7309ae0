"""Checks paybridge's Stripe connector against Stripe's official Python SDK (PyPI
`stripe`, pinned in requirements.txt). Used by the Rust contract tests
(server/tests/api/stripe/), which pipe JSON in and read JSON out:

  requests  every recorded request is checked against the SDK's typed parameters for
            its endpoint (`…CreateParams`, `…RetrieveParams`, …), recursively: a field
            the SDK does not know, a misspelt nested field, a missing required one, a
            value outside a closed list of literals, or a non-number for a number fails
  fields    every JSON field our serde types read exists on the SDK's object class
  statuses  the literal values the SDK lists for the status fields we map
  version   the API version the SDK is generated for
  sign      a Stripe-Signature header made by the SDK's own signing code
"""

import json
import re
import sys
import types
import typing
import urllib.parse
from decimal import Decimal, InvalidOperation

import stripe
import typing_extensions
from stripe._request_options import RequestOptions

NOT_PARAMS = set(RequestOptions.__annotations__)

# method, path pattern → module under stripe.params, TypedDict name
ENDPOINTS = [
    ("GET", r"/v1/account", "stripe.params", "AccountRetrieveCurrentParams"),
    ("GET", r"/v1/country_specs/[A-Za-z]+", "stripe.params", "CountrySpecRetrieveParams"),
    ("POST", r"/v1/checkout/sessions", "stripe.params.checkout", "SessionCreateParams"),
    ("GET", r"/v1/checkout/sessions/[\w]+", "stripe.params.checkout", "SessionRetrieveParams"),
    ("POST", r"/v1/checkout/sessions/[\w]+/expire", "stripe.params.checkout", "SessionExpireParams"),
    ("POST", r"/v1/payment_intents", "stripe.params", "PaymentIntentCreateParams"),
    ("GET", r"/v1/payment_intents/[\w]+", "stripe.params", "PaymentIntentRetrieveParams"),
    ("POST", r"/v1/payment_intents/[\w]+/capture", "stripe.params", "PaymentIntentCaptureParams"),
    ("POST", r"/v1/payment_intents/[\w]+/cancel", "stripe.params", "PaymentIntentCancelParams"),
    ("POST", r"/v1/refunds", "stripe.params", "RefundCreateParams"),
    ("GET", r"/v1/refunds", "stripe.params", "RefundListParams"),
    ("GET", r"/v1/refunds/[\w]+", "stripe.params", "RefundRetrieveParams"),
    ("POST", r"/v1/customers", "stripe.params", "CustomerCreateParams"),
    ("GET", r"/v1/setup_intents/[\w]+", "stripe.params", "SetupIntentRetrieveParams"),
    ("GET", r"/v1/payment_methods/[\w]+", "stripe.params", "PaymentMethodRetrieveParams"),
    ("POST", r"/v1/payment_methods/[\w]+/detach", "stripe.params", "PaymentMethodDetachParams"),
    ("GET", r"/v1/charges/[\w]+", "stripe.params", "ChargeRetrieveParams"),
]


def params_class(method, path):
    for m, pattern, module, name in ENDPOINTS:
        if m == method and re.fullmatch(pattern, path):
            mod = __import__(module, fromlist=[name])
            return getattr(mod, name)
    return None


def decode_form(raw):
    """Stripe's bracket notation (`a[b][0][c]=v`, `expand[]=x`) → nested dicts and lists."""
    root = {}
    for key, value in urllib.parse.parse_qsl(raw or "", keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + ([p for p in re.findall(r"([^\[\]]*)\]", "[" + rest)] if rest else [])
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                if part in node:
                    raise ValueError(f"{key} given twice")
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError(f"{key} is both a value and an object")
    return listify(root)


def listify(node):
    if isinstance(node, dict):
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            keys = sorted(node, key=int)
            if [int(k) for k in keys] != list(range(len(keys))):
                raise ValueError(f"list indices {keys} are not 0..n")
            return [node[k] for k in keys]
    return node


def resolve(annotation, module):
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(sys.modules[module]))  # the SDK's own annotation text
    return annotation


def strip(annotation, module):
    annotation = resolve(annotation, module)
    while typing_extensions.get_origin(annotation) in (typing_extensions.NotRequired, typing_extensions.Required):
        annotation = resolve(typing_extensions.get_args(annotation)[0], module)
    return annotation


def check(value, annotation, module, path, errors):
    """Appends to `errors` what in `value` (strings, dicts, lists from a form) the SDK's
    `annotation` does not allow."""
    ann = strip(annotation, module)
    origin = typing_extensions.get_origin(ann)
    if ann is typing.Any or ann is object:
        return
    if origin in (typing.Union, types.UnionType):
        arms = [strip(a, module) for a in typing_extensions.get_args(ann)]
        attempts = []
        for arm in arms:
            if arm is type(None):
                continue
            found = []
            check(value, arm, module, path, found)
            if not found:
                return
            attempts.append(found)
        errors.extend(min(attempts, key=len) if attempts else [f"{path}: no type accepts {value!r}"])
        return
    if typing_extensions.is_typeddict(ann):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object ({ann.__name__}), got {value!r}")
            return
        known = {k: v for k, v in ann.__annotations__.items() if k not in NOT_PARAMS}
        for key, inner in value.items():
            if key not in known:
                errors.append(f"{path}{'.' if path else ''}{key}: not a field of {ann.__name__}")
            else:
                check(inner, known[key], ann.__module__, f"{path}{'.' if path else ''}{key}", errors)
        for key in getattr(ann, "__required_keys__", ()):
            if key not in value and key not in NOT_PARAMS:
                errors.append(f"{path}{'.' if path else ''}{key}: required by {ann.__name__}, missing")
        return
    if origin in (list, typing.List):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {value!r}")
            return
        (inner,) = typing_extensions.get_args(ann) or (typing.Any,)
        for i, item in enumerate(value):
            check(item, inner, module, f"{path}[{i}]", errors)
        return
    if origin in (dict, typing.Dict) or getattr(ann, "__name__", "") == "UntypedStripeObject" or (
        origin is not None and getattr(origin, "__name__", "") == "UntypedStripeObject"
    ):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.append(f"{path}: expected string pairs, got {value!r}")
        return
    if origin is typing_extensions.Literal or origin is typing.Literal:
        if value not in typing_extensions.get_args(ann):
            errors.append(f"{path}: {value!r} is not one of {typing_extensions.get_args(ann)}")
        return
    if not isinstance(value, str):
        errors.append(f"{path}: expected a single value, got {value!r}")
        return
    if ann is bool and value not in ("true", "false"):
        errors.append(f"{path}: {value!r} is not true or false")
    elif ann is int and not re.fullmatch(r"-?\d+", value):
        errors.append(f"{path}: {value!r} is not an integer")
    elif ann in (float, Decimal):
        try:
            Decimal(value)
        except InvalidOperation:
            errors.append(f"{path}: {value!r} is not a number")
    elif ann not in (str, bool, int, float, Decimal):
        errors.append(f"{path}: cannot check {value!r} against {ann!r}")


def check_requests(requests):
    report = []
    for r in requests:
        cls = params_class(r["method"], r["path"])
        if cls is None:
            report.append({"request": f"{r['method']} {r['path']}", "errors": ["no SDK parameters known for it"]})
            continue
        errors = []
        try:
            raw = r.get("body") if r["method"] == "POST" else r.get("query")
            check(decode_form(raw), cls, cls.__module__, "", errors)
        except ValueError as e:
            errors.append(str(e))
        report.append({"request": f"{r['method']} {r['path']}", "params": cls.__name__, "errors": errors})
    return report


def sdk_object(path):
    node = stripe
    for part in path.split(".")[1:]:
        node = getattr(node, part)
    return node


def annotations_of(cls):
    names = {}
    for base in reversed(cls.__mro__):
        names.update(getattr(base, "__annotations__", {}))
    return names


def check_fields(objects):
    report = []
    for o in objects:
        known = annotations_of(sdk_object(o["sdk"]))
        missing = [f for f in o["fields"] if f not in known]
        report.append({"rust": o["rust"], "sdk": o["sdk"], "errors": [f"{f}: not a field of {o['sdk']}" for f in missing]})
    return report


def literals(cls, field):
    found = []

    def walk(ann):
        ann = strip(ann, cls.__module__)
        origin = typing_extensions.get_origin(ann)
        if origin in (typing.Union, types.UnionType):
            for a in typing_extensions.get_args(ann):
                walk(a)
        elif origin is typing_extensions.Literal or origin is typing.Literal:
            found.extend(typing_extensions.get_args(ann))

    walk(annotations_of(cls)[field])
    return found


def main():
    command = sys.argv[1]
    data = json.load(sys.stdin) if command not in ("version", "statuses") else None
    if command == "requests":
        out = check_requests(data["requests"])
    elif command == "fields":
        out = check_fields(data["objects"])
    elif command == "statuses":
        out = {
            "payment_intent.status": literals(stripe.PaymentIntent, "status"),
            "payment_intent.cancellation_reason": literals(stripe.PaymentIntent, "cancellation_reason"),
            "checkout.session.status": literals(stripe.checkout.Session, "status"),
            "setup_intent.status": literals(stripe.SetupIntent, "status"),
        }
    elif command == "version":
        out = {"version": stripe._api_version._ApiVersion.CURRENT}
    elif command == "sign":
        out = {"header": stripe.WebhookSignature.generate_signature_header(data["payload"], data["secret"], data["timestamp"])}
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
