"""The brain: a Wyoming `handle` service. prefilter -> local intents -> LLM agent with tools and memory."""
