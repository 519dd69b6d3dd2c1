"""jarvis.satellite"""
