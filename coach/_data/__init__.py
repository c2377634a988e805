"""Package data: the knowledge, prompts and evals folders, mapped here in an installed wheel."""
