"""The CDK app's constructs: settings, buckets, the compression function, failure handling, the stack.

The app validates its settings against the function's own vocabulary (codecs, storage classes), so the
function's package is made importable here, once.
"""

import sys
from pathlib import Path

FUNCTION_CODE = Path(__file__).resolve().parent.parent / "lambda_src"
if str(FUNCTION_CODE) not in sys.path:
    sys.path.append(str(FUNCTION_CODE))
