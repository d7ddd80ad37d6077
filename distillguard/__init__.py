"""distillguard: find adversarial distillation in LLM request logs."""

__version__ = "0.1.0"
