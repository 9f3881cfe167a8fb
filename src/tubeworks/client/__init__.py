"""tubeworks.client"""
