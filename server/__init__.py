"""jarvis.server"""
